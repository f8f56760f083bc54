"""The source tree keeps its rules: ruff finds no error, and the library never
imports the process packages (workers, cluster) that sit on top of it; only the
CLI entry point, above everything, may."""
import ast
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROCESS_PACKAGES = ('cachecyt.workers', 'cachecyt.cluster')


def test_ruff_finds_no_errors():
    ruff = shutil.which('ruff')
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    out = subprocess.run([ruff, 'check', '--quiet', 'cachecyt', 'tests', 'tools'], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def _imports(path):
    tree = ast.parse(open(path).read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_library_does_not_import_process_packages():
    lib = os.path.join(ROOT, 'cachecyt')
    offenders = []
    for dirpath, _, files in os.walk(lib):
        if dirpath.startswith(os.path.join(lib, 'workers')) or dirpath.startswith(os.path.join(lib, 'cluster')):
            continue
        for f in files:
            if f.endswith('.py') and f != 'cli.py':      # the entry point sits on top of all
                path = os.path.join(dirpath, f)
                offenders += [f"{path}: {m}" for m in _imports(path) if m.startswith(PROCESS_PACKAGES)]
    assert offenders == []


def test_python_is_supported():
    assert sys.version_info >= (3, 10)
