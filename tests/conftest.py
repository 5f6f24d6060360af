"""Test settings. The benchmark options (--grid, --suite, --precision, --device, --benchmark) come
from the package's pytest plugin, bench.plugin."""

import json
import os

import pytest
from hypothesis import settings

# CI runs the property tests on a fixed sequence of examples, so that a pass or a failure there
# can be reproduced; elsewhere each run explores new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def write_json(tmp_path):
    """write_json(name, data): `data` written as JSON to tmp_path / name, folders made; its path."""
    def write(name: str, data):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
        return path
    return write


@pytest.fixture
def slowed():
    """slowed(data, impl, factor): `data` (a parsed benchmark JSON) with every benchmark of
    `impl` taking `factor` times as long, round by round and in its statistics; `data`."""
    def slow(data: dict, impl: str, factor: float) -> dict:
        for bench in data["benchmarks"]:
            if bench["extra_info"].get("impl") == impl:
                stats = bench["stats"]
                stats["data"] = [factor * x for x in stats.get("data", [])]
                for key in ("median", "q1", "q3", "iqr", "min", "max", "mean", "stddev"):
                    stats[key] *= factor
        return data
    return slow


def _interpreter_patches_once_a_launch() -> None:
    """Triton's interpreter (3.8) swaps triton.language's functions for interpreted ones when a
    kernel launches, and again at every call of a device function, though nothing restores a
    device function's swap before the launch ends: a quarter of the RoI kernels' test time went
    to repeats. Here the functions a module sees are swapped once a launch: the first call from
    a module's code patches as before, later calls within the same launch skip it. Nothing
    changes where these private names are missing."""
    try:
        from triton.runtime import interpreter
        patch, launch = interpreter._patch_lang, interpreter.GridExecutor.__call__
    except (ImportError, AttributeError):
        return
    patched = []  # a launch's modules (their globals) whose functions are swapped

    def patch_once(fn):
        if patched and id(fn.__globals__) in patched[-1]:
            return interpreter._LangPatchScope()  # nothing to restore
        if patched:
            patched[-1].add(id(fn.__globals__))
        return patch(fn)

    def launch_once(self, *args, **kwargs):
        patched.append(set())
        try:
            return launch(self, *args, **kwargs)
        finally:
            patched.pop()

    interpreter._patch_lang, interpreter.GridExecutor.__call__ = patch_once, launch_once


if os.environ.get("TRITON_INTERPRET") == "1":
    _interpreter_patches_once_a_launch()
