"""Every registered method, parametrised over the registry (as timm tests every model): it is
found without imports, builds, takes a training step, resumes bitwise on the CPU (learned
methods), and predicts a synthetic COCO-crowd file into results that `bench score` accepts."""
import json
import subprocess
import sys
from pathlib import Path


import pytest
import torch
from click.testing import CliRunner
from tests.helpers.synthcrowd import build_synthetic_crowd

from benchmarks.cli import main as bench
from benchmarks.engine import checkpoint, registry
from benchmarks.engine.method import LearnedMethod
from benchmarks.engine.train import train_on_file

REPO = Path(__file__).resolve().parents[3]
LEARNED = registry.learned_methods()
UNTRAINED = sorted(set(registry.available()) - set(LEARNED))  # each with its own test_options


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    path = build_synthetic_crowd(tmp_path_factory.mktemp("registry"), images=3, seed=11)
    assert len(json.loads(path.read_text())["images"]) == 2  # regions to predict
    return path


def test_discovery_reads_sources_without_importing_them():
    code = ("import sys; import benchmarks.cli; from benchmarks.engine import registry; "
            "names = registry.available(); heavy = [m for m in ('torch', 'torchvision', 'baselines.maskrcnn', "
            "'benchmarks.seqpose.method') if m in sys.modules]; print(names, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.strip().endswith("[]"), out
    for name in ("ours", "ae", "maskrcnn", "oracle"):
        assert f"'{name}'" in out


@pytest.mark.parametrize("name", registry.available())
def test_every_method_registers_under_its_name(name):
    cls = registry.method_class(name)
    assert cls.method_name == name
    assert issubclass(cls, LearnedMethod) == (name in LEARNED)
    assert callable(getattr(cls, "predict"))


def test_a_subclass_of_a_learned_method_is_learned(monkeypatch):
    # by class, not by the base's name in the source text
    from benchmarks.seqpose.method import SeqPoseMethod
    monkeypatch.setattr(registry, "_CLASSES", dict(registry._CLASSES))
    found = {**registry.discover(), "ours2": __name__}
    monkeypatch.setattr(registry, "_scan", lambda: found)
    registry.register("ours2")(type("Ours2", (SeqPoseMethod,), {}))
    assert "ours2" in registry.learned_methods()


def test_every_shipped_config_belongs_to_a_learned_method():
    # the package's configs (configs/ in the checkout points there) load as their method's config
    from benchmarks.engine.method import shipped_config
    prefixes = {"seqpose": "ours", "ae": "ae"}
    files = sorted(shipped_config("ae_cpu_smoke.toml").parent.glob("*.toml"))
    assert files and all(f.name.split("_")[0] in prefixes for f in files), [f.name for f in files]
    assert sorted(p.name for p in (REPO / "configs").glob("*.toml")) == [f.name for f in files]
    for f in files:
        registry.get_method(prefixes[f.name.split("_")[0]]).load_config(f)
    for name in LEARNED:
        cls = registry.method_class(name)
        assert cls.config_file("smoke").is_file() and cls.config_file("default").is_file(), name


def test_unknown_and_foreign_options_are_refused():
    with pytest.raises(ValueError, match=r"--method nope: unknown method \(known: .*ours"):
        registry.get_method("nope")
    with pytest.raises(ValueError, match=r"--min-size: not an option of --method ours"):
        registry.get_method("ours", min_size=64)
    with pytest.raises(ValueError, match=r"^--box-threshold: not an option of --method oracle$"):
        registry.get_method("oracle", score_threshold=0.5, progress=False)


def test_the_cli_takes_each_methods_options_from_the_method(tmp_path):
    from benchmarks.cli import run_command
    ctx = run_command.make_context("run", ["--gt", "x", "--out", "y"])
    flags = {o for p in run_command.get_params(ctx) for o in p.opts}
    for name in registry.available():
        for f in registry.option_fields(registry.method_class(name)):
            assert registry.option_flag(f) in flags, (name, f.name)
    done = CliRunner().invoke(bench, ["run", "--method", "ours", "--gt", "x.json", "--out", str(tmp_path),
                                      "--weights", "none"])
    assert done.exit_code == 2 and done.output == "error: --weights: not an option of --method ours\n"
    done = CliRunner().invoke(bench, ["run", "--method", "oracle", "--codec", "nope", "--gt", "x", "--out", "y"])
    assert done.exit_code == 2 and "'ae', 'disks', 'ours'" in done.output  # the registered codecs, listed


def _readme_method() -> tuple[str, str]:
    """The README's example method file and its name."""
    import re
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Adding a method"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    return code, re.search(r'@register\("(\w+)"\)', code).group(1)


def test_the_readmes_method_is_one_new_file(tmp_path):
    """The README's example saved as one file in a copy of the packages: `bench run` scores it
    and the registry tests, parametrised over the copy's registry, pass for it."""
    import shutil
    code, name = _readme_method()
    assert 10 <= len(code.strip().splitlines()) <= 25
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in ("benchmarks", "baselines", "cococrowd", "tests"):
        shutil.copytree(REPO / part, tmp_path / part, ignore=skip)
    shutil.copy(REPO / "setup.cfg", tmp_path)
    (tmp_path / "baselines" / f"{name}.py").write_text(code)
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path)}
    crowd = build_synthetic_crowd(tmp_path / "world", images=3, seed=11)
    done = subprocess.run([sys.executable, "-m", "benchmarks.cli", "run", "--method", name, "--gt", str(crowd),
                           "--out", str(tmp_path / "run"), "--bootstrap", "0", "--no-analyze"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "people in 2 images" in done.stdout and (tmp_path / "run" / "scores.json").is_file()
    assert str(tmp_path) in json.loads((tmp_path / "run" / "run.json").read_text())["results"]
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
                            "tests/benchmarks/engine/test_registry.py", "-k", f"{name} or discovery or cli_takes or refused"],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
    assert tests.returncode == 0 and "5 passed" in tests.stdout, tests.stdout[-3000:]


def _smoke(name: str):
    method = registry.get_method(name, progress=False)
    config = method.load_config(method.config_file("smoke"))
    config.optim.epochs, config.optim.batch_size, config.data.workers = 2, 2, 0
    return method, config


@pytest.mark.parametrize("name", LEARNED)
def test_learned_method_trains_resumes_bitwise_and_predicts_scorable_results(name, crowd, tmp_path):
    method, config = _smoke(name)
    full = train_on_file(method, config, crowd, tmp_path / "full", device="cpu", progress=False)
    assert full["epoch"] == 2 and full["loss"] == full["loss"]  # finite, not NaN
    log = (tmp_path / "full" / "log.csv").read_text().splitlines()
    assert log[0].startswith("epoch,lr") and "loss" in log[0].split(",") and len(log) == 3
    train_on_file(method, config, crowd, tmp_path / "cut", device="cpu", progress=False, stop_after=1)
    torch.manual_seed(99)  # another RNG state in between, as in a fresh process
    train_on_file(method, None, crowd, tmp_path / "cut", device="cpu", progress=False, resume=True)
    a = checkpoint.load(tmp_path / "full" / "checkpoints" / "last.pt")
    b = checkpoint.load(tmp_path / "cut" / "checkpoints" / "last.pt")
    assert a["method"] == b["method"] == name
    for key, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][key]), key
    assert a["hooks"] == b["hooks"]

    run = registry.get_method(name, checkpoint=tmp_path / "full" / "checkpoints" / "last.pt", progress=False,
                              device="cpu", batch_size=2)
    results, summary = run.predict(crowd)
    assert summary["images"] == len(json.loads(crowd.read_text())["images"])
    _assert_scorable(crowd, results, tmp_path)


@pytest.mark.parametrize("name", UNTRAINED)
def test_untrained_method_predicts_scorable_results(name, crowd, tmp_path):
    method = registry.get_method(name, progress=False, **registry.method_class(name).test_options)
    got = method.predict(crowd)
    results = got[0] if isinstance(got, tuple) else got
    assert {r["image_id"] for r in results} <= {im["id"] for im in json.loads(crowd.read_text())["images"]}
    _assert_scorable(crowd, results, tmp_path)


@pytest.mark.parametrize("codec", registry.codec_names())
def test_oracle_works_for_every_codec(codec, crowd, tmp_path):
    """Perfect targets through each registered codec's decode: (almost) every person is found."""
    cls = registry.codec_class(codec)
    owner = next(n for n in LEARNED if registry.method_class(n).config_class is cls.config_class)
    results, _ = registry.get_method("oracle", codec=codec, config=str(registry.method_class(owner).config_file()),
                                     progress=False).predict(crowd)
    scores = _assert_scorable(crowd, results, tmp_path)
    assert scores["ap_ar"]["stats"]["AP"] > 0.5, (codec, scores["ap_ar"]["stats"])


def test_codecs_are_found_without_imports_and_every_learned_methods_codec_is_registered():
    code = "import sys; from benchmarks.engine import registry; print(registry.codec_names(), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.strip() == "['ae', 'disks', 'ours'] False", out
    for name in LEARNED:
        cls = registry.method_class(name)
        config = cls.config_class().validate()
        codec = cls().codec(config, ["a", "b"])
        assert type(codec) in {registry.codec_class(c) for c in registry.codec_names()}, name


# settings that make a method's step independent of how the batch is split (BatchNorm's batch
# statistics are not: under multi-GPU DDP it becomes SyncBatchNorm, which a CPU test cannot run)
BATCH_FREE = {"ours": ["model.norm=group"]}


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("name", LEARNED)
def test_two_process_ddp_step_equals_one_process_on_the_combined_batch(name, crowd, tmp_path):
    """The engine's DDP (gloo, 2 processes, half a batch each) gives every learned method the
    gradients of one process on the whole batch."""
    import torch.multiprocessing as mp
    from benchmarks.engine import distributed
    from benchmarks.engine.config import config_from_dict
    from benchmarks.engine.train import Trainer
    from tests.helpers.engine import ddp_method_worker, four_samples
    method, config = _smoke(name)
    raw = config.to_dict()
    for spec in BATCH_FREE.get(name, []):
        key, value = spec.split("=")
        section, field = key.split(".")
        raw[section][field] = value
    config = config_from_dict(raw, method.config_class, "test")
    mp.spawn(ddp_method_worker, args=(_free_port(), str(tmp_path), name, raw, str(crowd)), nprocs=2, join=True)
    samples, codec, names = four_samples(method, config, str(crowd))
    trainer = Trainer(method, config, names, distributed.DistContext(0, 1, 0, torch.device("cpu")))
    trainer.forward_backward(codec.collate(samples))
    single = {n: p.grad for n, p in trainer.model.named_parameters() if p.grad is not None}
    for rank in (0, 1):
        ddp = torch.load(tmp_path / f"grads{rank}.pt")
        assert ddp.keys() == single.keys() and len(single) > 10
        for key, grad in single.items():
            torch.testing.assert_close(ddp[key], grad, rtol=1e-4, atol=1e-7, msg=f"{name}: {key}")


def _assert_scorable(crowd: Path, results: list, tmp_path: Path) -> dict:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    out = tmp_path / "scored"
    done = CliRunner().invoke(bench, ["score", "--gt", str(crowd), "--results", str(path), "--out", str(out),
                                      "--bootstrap", "0"])
    assert done.exit_code == 0, done.output
    return json.loads((out / "scores.json").read_text())
