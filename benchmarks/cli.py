"""`bench` command line: parses options and calls the library; no logic here."""
from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main():
    """Train and score crowd pose methods on COCO-crowd files.

    `bench score` scores any COCO keypoint results file; `bench report` puts runs side by side;
    `bench train` / `bench run` train and run the paper's sequential model.
    """


# Commands register below.


# ---------------------------------------------------------------- train / run (sequential model)

@main.command("train")
@click.option("--method", default="ours", show_default=True, type=click.Choice(["ours"]),
              help="Method to train; only the paper's sequential model trains here.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="TOML/JSON config (e.g. configs/seqpose_coco_crowd.toml); default: the paper's settings. "
                   "With --resume the checkpoint's config is used and a given one must match it.")
@click.option("--gt", "gt_path", required=True, type=click.Path(dir_okay=False),
              help="COCO-crowd training file from `cococrowd build`.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Run folder: checkpoints/last.pt, log.csv, tensorboard/.")
@click.option("--resume", is_flag=True, help="Continue exactly from OUT/checkpoints/last.pt.")
@click.option("--pretrained", default=None,
              help="Backbone weights: 'imagenet' (torchvision, cached or downloaded), 'none', or a state-dict "
                   "PATH; overrides model.pretrained.")
@click.option("--device", default=None, help="cpu, cuda or cuda:N; default CUDA when present "
                                              "(under torchrun each process takes cuda:LOCAL_RANK).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override optim.epochs.")
@click.option("--stop-after", type=click.IntRange(min=1), default=None,
              help="End this invocation after N epochs (resume later with --resume).")
@click.option("--workers", type=click.IntRange(min=0), default=None, help="Override data.workers.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on rank 0.")
def train_command(method, config_path, gt_path, out_dir, resume, pretrained, device, epochs, stop_after,
                  workers, progress):
    """Train the sequential pose model (multi-GPU: torchrun --nproc_per_node N $(command -v bench) train ...)."""
    from benchmarks.methods import cli_errors
    with cli_errors():
        from benchmarks.seqpose.train import config_for_run, train_on_file
        config = config_for_run(config_path, out_dir, resume, epochs=epochs, workers=workers)
        summary = train_on_file(config, gt_path, out_dir, resume=resume, device=device, stop_after=stop_after,
                                progress=progress, pretrained=pretrained)
        click.echo(f"epoch {summary['epoch']}: loss {summary.get('loss', float('nan')):.4f} -> "
                   f"{out_dir}/checkpoints/last.pt")


@main.command("run")
@click.option("--method", default="ours", show_default=True, help="Registered method (benchmarks.methods).")
@click.option("--checkpoint", "checkpoint_path", required=True, type=click.Path(dir_okay=False),
              help="Checkpoint written by `bench train` (e.g. RUN/checkpoints/last.pt).")
@click.option("--gt", "gt_path", required=True, type=click.Path(dir_okay=False),
              help="COCO-crowd file to predict and score (e.g. crowd_val2014_test.json).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for results.json, run.json, scores.json and report.md.")
@click.option("--images", type=click.Path(file_okay=False), default=None,
              help="Crops folder, if not where the file's crowd_info.image_dir says.")
@click.option("--flip/--no-flip", default=None, help="Flip test (default: the checkpoint's infer.flip).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Images per forward pass.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="DataLoader worker processes.")
@click.option("--device", default=None, help="cpu, cuda or cuda:N; default CUDA when present.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar.")
def run_command(method, checkpoint_path, gt_path, out_dir, images, flip, batch_size, workers, device, progress):
    """Predict a COCO-crowd file with a method, write COCO results and score them."""
    from benchmarks.methods import cli_errors, run_method
    with cli_errors():
        summary = run_method(method, gt_path, out_dir, images=images, checkpoint=checkpoint_path, flip=flip,
                             batch_size=batch_size, workers=workers, device=device, progress=progress)
        click.echo(f"{summary['people']} people in {summary['images']} images -> {summary['results']}")
