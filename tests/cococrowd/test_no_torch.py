"""The curation package must run on a machine without torch."""
import pkgutil
import subprocess
import sys

import cococrowd


def test_cococrowd_never_imports_torch():
    modules = [f"cococrowd.{m.name}" for m in pkgutil.walk_packages(cococrowd.__path__)]
    assert "cococrowd.build" in modules
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "from click.testing import CliRunner\n"
            "from cococrowd.cli import main\n"
            "CliRunner().invoke(main, ['--help'])\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision'))\n"
            "print(bad)\n"
            "sys.exit(1 if bad else 0)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
