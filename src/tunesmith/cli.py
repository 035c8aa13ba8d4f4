"""The ``tunesmith`` command line: one function per command, each a thin call into the library."""

from __future__ import annotations

import functools
import json
import warnings
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tunesmith.config import TrainConfig
from tunesmith.errors import TunesmithError

app = typer.Typer(
    help="Fine-tune GPT-style language models on your own data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)
runs_app = typer.Typer(
    help="The run registry: every training run, failed or not.", no_args_is_help=True
)
app.add_typer(runs_app, name="runs")
data_app = typer.Typer(
    help="Look at a data set, or prepare it, before training on it.", no_args_is_help=True
)
app.add_typer(data_app, name="data")

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Override a config key, e.g. --set train.max_steps=20 (repeatable)."
    ),
]


def friendly(command):
    """Turn a TunesmithError into one 'error:' line and exit status 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except TunesmithError as exc:
            console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


@app.command()
@friendly
def quickstart(
    output: Annotated[str, typer.Option(help="Run directory.")] = "runs/quickstart",
    set_: SetOption = None,
) -> None:
    """Fine-tune the default model with LoRA on the bundled BANKING77 subset; show base vs tuned."""
    from tunesmith.config_io import load_config
    from tunesmith.pipeline import run_training

    data = Path(str(files("tunesmith") / "quickstart"))
    overrides = [f"data.train={data / 'train.csv'}", f"data.test={data / 'test.csv'}"]
    cfg = load_config(data / "quickstart.yaml", [*overrides, f"output={output}", *(set_ or [])])
    run_training(cfg, overwrite=True, console=console)


@app.command()
@friendly
def train(
    config: Annotated[Path, typer.Argument(help="YAML config file.")],
    set_: SetOption = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run directory.")] = False,
    resume: Annotated[
        bool, typer.Option(help="Continue the run in `output` from its newest checkpoint.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(help="Train despite blocking data-check problems (recorded in the run)."),
    ] = False,
) -> None:
    """Check the data, fine-tune as CONFIG says, evaluate base vs tuned, write the run directory.

    The data check is `tunesmith data inspect`'s: blocking problems stop the run before any
    model loads, unless --force.
    """
    from tunesmith.config_io import load_config

    cfg = load_config(config, set_)  # before the heavy imports: a bad config fails in a blink
    from tunesmith.pipeline import run_training

    run_training(cfg, overwrite=overwrite, resume=resume, force=force, console=console)


@app.command()
@friendly
def estimate(
    config: Annotated[Path, typer.Argument(help="YAML config file.")],
    set_: SetOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Predict training tokens, time and peak memory by timing a few real steps here."""
    from tunesmith.config_io import load_config

    cfg = load_config(config, set_)
    from tunesmith.pipeline import estimate_run

    estimate = estimate_run(cfg, console)
    if as_json:
        typer.echo(json.dumps(estimate.as_dict()))
        return
    console.print(estimate.describe())


@app.command()
@friendly
def compare(
    config: Annotated[Path, typer.Argument(help="YAML config file: data, model, settings.")],
    methods: Annotated[
        str, typer.Option(help="Comma-separated methods, e.g. lora,feature_extraction,full.")
    ],
    out: Annotated[
        Path, typer.Option(help="Directory for OUT/<method>/ runs and compare.json/html.")
    ] = Path("runs/compare"),
    set_: SetOption = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing OUT directory.")] = False,
) -> None:
    """Run each method on the same data, split and seed; print and write a comparison table."""
    from tunesmith.config_io import load_config

    cfg = load_config(config, set_)
    from tunesmith.compare import compare_methods, parse_methods

    names = parse_methods(methods)  # unknown names fail here, before anything runs
    compare_methods(cfg, names, out, overwrite=overwrite, console=console)


@app.command()
@friendly
def tune(
    config: Annotated[
        Path | None, typer.Argument(help="Study YAML: a config with a search: section.")
    ] = None,
    search: Annotated[str | None, typer.Option(help="grid, random or bayes (TPE).")] = None,
    trials: Annotated[int | None, typer.Option(help="Trials in all, over every worker.")] = None,
    timeout: Annotated[
        str | None, typer.Option(help="Start no trial after this long: 90s, 30m, 2h.")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes.")] = None,
    storage: Annotated[
        str | None, typer.Option(help="Optuna storage URL shared by workers (postgresql://...).")
    ] = None,
    pruner: Annotated[str | None, typer.Option(help="none, median or hyperband.")] = None,
    study: Annotated[str | None, typer.Option(help="Study name in the storage.")] = None,
    out: Annotated[str | None, typer.Option(help="Study directory (default: output).")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampler seed.")] = None,
    status: Annotated[
        bool, typer.Option("--status", help="Show the study's progress and best trial; run none.")
    ] = False,
    worker: Annotated[int | None, typer.Option(hidden=True)] = None,
    set_: SetOption = None,
) -> None:
    """Search hyperparameters with Optuna: every trial is a run in OUT/trial-NNNN; writes
    best.yaml, trials.csv and report.html. Running it again resumes the study."""
    flags = {
        "tune.search": search, "tune.trials": trials, "tune.timeout": timeout,
        "tune.workers": workers, "tune.storage": storage, "tune.pruner": pruner,
        "tune.study_name": study, "tune.seed": seed, "output": out,
    }  # fmt: skip
    overrides = [*(set_ or []), *(f"{k}={v}" for k, v in flags.items() if v is not None)]
    if status:
        from tunesmith.tune.spec import study_address
        from tunesmith.tune.status import print_status
        from tunesmith.tune.status import status as study_status

        print_status(study_status(study_address(config, overrides)), Console())
        return
    if config is None:
        raise TunesmithError("tune: give the study's CONFIG file (or --status to watch one)")
    from tunesmith.tune.spec import load_study

    spec = load_study(config, overrides)  # before the heavy imports: a bad study fails fast
    from tunesmith.tune.run import tune as run_study
    from tunesmith.tune.run import tune_worker, worker_argv

    if worker is not None:
        tune_worker(spec, worker, console)
    else:
        run_study(spec, console, worker_command=worker_argv(config, overrides))


@app.command("eval")
@friendly
def eval_(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    data: Annotated[str | None, typer.Option(help="Evaluate on this file instead.")] = None,
) -> None:
    """Evaluate a tuned run on its held-out split (or on --data FILE)."""
    from tunesmith.evaluate.run import evaluate
    from tunesmith.report.table import print_comparison
    from tunesmith.rundir import load_run, write_json

    run = load_run(run_dir)
    examples = held_out_examples(run, data)
    tuned = evaluate(
        run.model,
        run.tokenizer,
        examples,
        run.labels,
        run.cfg,
        device=run.device,
        dtype=run.dtype,
        name="tuned",
    )
    stored = json.loads((run.path / "metrics.json").read_text(encoding="utf-8"))
    result = {**stored, "tuned": tuned, "eval_examples": len(examples)}
    if data:  # the stored base figures belong to another split
        result.update(base=None, eval_split=data)
    name = f"eval_{Path(data).stem}.json" if data else "eval.json"
    write_json(run.path / name, result)
    print_comparison(result, console)
    console.print(f"written {run.path / name}")


@app.command()
@friendly
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    input_file: Annotated[str, typer.Argument(help="CSV/TSV/JSON/JSONL/TXT file of inputs.")],
    output: Annotated[
        str, typer.Option("-o", "--output", help="CSV to write.")
    ] = "predictions.csv",
) -> None:
    """Label (classification) or complete every row of INPUT_FILE; write a CSV."""
    from tunesmith.predict import predict_file
    from tunesmith.rundir import load_run

    if Path(output).resolve() == Path(input_file).resolve():
        raise TunesmithError(f"-o {output}: would overwrite the input file; choose another name")
    count = predict_file(load_run(run_dir), input_file, output)
    console.print(f"{count} predictions written to {output}")


@app.command()
@friendly
def generate(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    prompt: Annotated[str, typer.Argument(help="The input text.")],
    max_new_tokens: Annotated[int | None, typer.Option(help="Tokens to generate.")] = None,
) -> None:
    """Answer PROMPT with the tuned model (the predicted label for classification runs)."""
    from tunesmith.predict import generate as generate_text
    from tunesmith.rundir import load_run

    typer.echo(generate_text(load_run(run_dir), prompt, max_new_tokens))


RunRef = Annotated[str, typer.Argument(help="Run id, run directory, or the start of its name.")]


@runs_app.command("list")
@friendly
def runs_list(
    limit: Annotated[int, typer.Option(help="Show at most this many runs.")] = 20,
    status: Annotated[str | None, typer.Option(help="Only runs with this status.")] = None,
) -> None:
    """List recorded runs, newest first, with their headline figures."""
    from tunesmith.registry import Registry
    from tunesmith.registry.views import print_runs

    print_runs(Registry().list(limit=limit, status=status), Console())


@runs_app.command("show")
@friendly
def runs_show(run: RunRef) -> None:
    """Everything recorded about RUN, including why it failed."""
    from tunesmith.registry import Registry
    from tunesmith.registry.views import print_run

    print_run(Registry().get(run), Console())


@runs_app.command("compare")
@friendly
def runs_compare(run_a: RunRef, run_b: RunRef) -> None:
    """Config keys that differ between RUN_A and RUN_B, and their figures side by side."""
    from tunesmith.registry import Registry
    from tunesmith.registry.views import print_compare

    registry = Registry()
    print_compare(registry.get(run_a), registry.get(run_b), Console())


@data_app.command("inspect")
@friendly
def data_inspect(
    files_: Annotated[
        list[Path], typer.Argument(metavar="FILE...", help="Data files; the first is train.")
    ],
    model: Annotated[
        str | None, typer.Option(help="Count tokens with this model's tokenizer (else words).")
    ] = None,
    task: Annotated[str | None, typer.Option(help="Task; detected when empty.")] = None,
    max_length: Annotated[
        int, typer.Option(help="Token budget; longer examples are counted as truncated.")
    ] = TrainConfig.max_length,
    out: Annotated[Path | None, typer.Option(help="Directory for inspect.json/html.")] = None,
) -> None:
    """Check data files for duplicates, leakage, label typos, encoding and length problems."""
    from tunesmith.config import DataConfig
    from tunesmith.data.inspect import inspect_files
    from tunesmith.report.inspection import print_inspection, write_inspection

    tokenizer = None
    if model:
        from tunesmith.models.load import load_tokenizer
        from tunesmith.models.resolve import resolve_model

        tokenizer = load_tokenizer(resolve_model(model, console.print))
    cfg = DataConfig(task=task)  # type: ignore[arg-type]  # resolve_fields checks the name
    report = inspect_files(files_, cfg, tokenizer, max_length)
    print_inspection(report, Console())
    out_dir = out or Path(f"{files_[0].stem}_inspect")
    json_path, html_path = write_inspection(report, out_dir)
    console.print(f"written {json_path} and {html_path}")
    if report["verdict"] == "errors":
        raise typer.Exit(1)


@data_app.command("prepare")
@friendly
def data_prepare(
    config: Annotated[Path, typer.Argument(help="YAML config file.")],
    set_: SetOption = None,
    out: Annotated[
        Path | None, typer.Option(help="Output directory; default: next to `output` (NAME-data).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier preparation.")] = False,
    tokenize: Annotated[
        bool, typer.Option(help="Fill the token cache with the model's tokenizer.")
    ] = True,
) -> None:
    """Clean, de-duplicate, split and augment CONFIG's data; write JSONL splits + manifest.json."""
    from tunesmith.config_io import load_config

    cfg = load_config(config, set_)
    from tunesmith.data.prepare import prepare_dataset

    prepare_dataset(cfg, out, overwrite=overwrite, tokenize=tokenize, console=console)


def held_out_examples(run, data: str | None):
    """The run's own test split, or the examples of ``data`` read with the run's fields."""
    from tunesmith.data.load import read_records
    from tunesmith.data.split import make_splits
    from tunesmith.data.tasks import to_examples

    if data is None:
        return make_splits(run.cfg.data, run.cfg.train.seed).test
    return to_examples(read_records(data), run.task, run.cfg.data)


def main() -> None:
    """Console-script entry point."""
    from transformers.utils import logging as hf_logging

    # Our own progress bars and messages say what happens; transformers' per-load bars and
    # deprecation chatter would bury them (and break the one-line error contract).
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)  # libraries' deprecation notes
    app()


if __name__ == "__main__":
    main()
