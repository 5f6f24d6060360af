"""Our own operators: the ones the suites measure against PyTorch's and torchvision's."""

from bench.ops.conv1x1 import conv1x1_from_linear, linear_from_conv1x1
from bench.ops.keras import conv_from_keras_kernel, keras_kernel, keras_shape
from bench.ops.roi import roi_pool, roi_spp, spp

__all__ = ["conv1x1_from_linear", "conv_from_keras_kernel", "keras_kernel", "keras_shape",
           "linear_from_conv1x1", "roi_pool", "roi_spp", "spp"]
