"""The ``zoo`` command. Thin: parse options, call one function of the package.

keras is imported only inside commands, after ``--backend`` has been applied.
"""

import sys

import click

from zoo import formats
from zoo.backend import BACKENDS, use_backend
from zoo.compat.library_logs import OPTIMIZER_NOT_LOADED, ignore_warnings, quiet_tensorflow_import, set_verbose
from zoo.errors import ZooError, report
from zoo.recipe import DISTRIBUTE_MODES, MAX_COUNT, PRECISION_CHOICES
from zoo.task_commands import TaskCommand, ZooGroup


class FiniteFloat(click.FloatRange):
    """A float range that also refuses nan and inf (click's range checks let nan through)."""

    name = "finite float"

    def convert(self, value, param, ctx):
        import math

        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


SEED = click.IntRange(0, 2**32 - 1)
COUNT = click.IntRange(1, MAX_COUNT)  # epochs, batch size, examples


def _param(param: click.Parameter):
    """A decorator adding `param` (one object several commands share) to a command."""

    def decorate(function):
        function.__dict__.setdefault("__click_params__", []).append(param)
        return function

    return decorate


# Options several commands share, declared once.
_DATA_DIR = click.Option(["--data-dir"], type=click.Path(),
                         help="Folder of local data [default: $ZOO_DATA_DIR, then ../shared/data beside a checkout].")


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    envvar="KERAS_BACKEND",
    default="tensorflow",
    show_default=True,
    help="Keras backend; set before keras is imported (also read from KERAS_BACKEND).",
)
@click.option("--verbose", is_flag=True,
              help="Show the libraries' own logs and warnings (TensorFlow, absl, Keras), hidden by default "
                   "(also ZOO_VERBOSE=1, or setting TF_CPP_MIN_LOG_LEVEL or PYTHONWARNINGS yourself).")
@click.pass_context
def cli(ctx, backend, verbose):
    """Keras RNN zoo: recurrent models on TensorFlow, JAX and PyTorch."""
    use_backend(backend)
    if verbose:
        set_verbose()
    # Whichever command imports TensorFlow (Keras, tfds, an export format) imports it quietly.
    quiet_tensorflow_import()
    ignore_warnings(OPTIMIZER_NOT_LOADED)  # Keras loading a run's model.keras


@cli.command("list")
def list_command():
    """List the trained models shipped in saved_models/, then every model family with its
    presets and parameter counts."""
    from zoo.pretrained import headline, shipped
    from zoo.registry import catalogue

    cards = shipped()
    click.echo("trained models (zoo predict / generate / translate NAME, zoo.load(NAME)):")
    width = max(map(len, cards), default=0) + 2
    for name, card in cards.items():
        metric, value = headline(card)
        click.echo(f"  {name:<{width}}{card['task']:<17}{metric} {value:.4f}  ({card['size_bytes'] / 1e6:.1f} MB)")
    if not cards:
        click.echo("  none found (saved_models/ of a checkout, or $ZOO_MODELS_DIR)")
    click.echo("\nmodel families (the same on every backend):")
    click.echo(f"  {'model':<24}{'preset':<10}{'params':>12}  description")
    for name, family in catalogue().items():
        for preset, params in family["presets"].items():
            click.echo(f"  {name:<24}{preset:<10}{params:>12,}  {family['description']}")


def _echo_json(data: dict) -> None:
    import json

    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _recipe_task(ctx, ref, given):
    from zoo.recipe import load_recipe
    from zoo.tasks import get_task

    return get_task(load_recipe(ref).task)


def _all_tasks():
    from zoo.tasks import get_task, list_tasks

    return [task for task in map(get_task, list_tasks()) if task.train_options]


def _train(recipe_ref, out, **options):
    from zoo.training import train

    _echo_json(train(recipe_ref, out_dir=out, **options))


train_command = TaskCommand(
    "train", callback=_train, task_of=_recipe_task, task_params=lambda task: task.train_options, tasks=_all_tasks,
    help="Train RECIPE: a recipe's name (see `zoo recipes`) or the path of a recipe file (my_recipe.py); re-running "
         "an interrupted run resumes it. Its task's own options follow RECIPE (`zoo train RECIPE --help`).",
    short_help="Train RECIPE (a name or a recipe file); re-running an interrupted run resumes it.",
    params=[
        click.Argument(["recipe_ref"], metavar="RECIPE"),
        click.Option(["--epochs"], type=COUNT, help="Override the recipe's epochs."),
        click.Option(["--batch-size"], type=COUNT, help="Override the recipe's batch size."),
        click.Option(["--learning-rate"], type=FiniteFloat(min=0, min_open=True), help="Override the learning rate."),
        click.Option(["--preset"], help="Model preset (tiny for smoke runs): its sizes replace the recipe's, the "
                                        "recipe's other model options stay; default: the recipe's."),
        click.Option(["--out"], type=click.Path(file_okay=False), help="Run folder [default: runs/RECIPE]."),
        click.Option(["--seed"], type=SEED, default=0, show_default=True,
                     help="Seed for weights, data split and sampling."),
        click.Option(["--limit"], type=COUNT, help="At most this many examples per split (quick runs)."),
        _DATA_DIR,
        click.Option(["--overwrite"], is_flag=True,
                     help="Replace a finished run in --out (or discard an interrupted one)."),
        click.Option(["--distribute"], type=click.Choice(DISTRIBUTE_MODES), default="none", show_default=True,
                     help="data-parallel: split each batch across all devices (jax, tensorflow; several workers "
                          "with TF_CONFIG or JAX's multi-process environment)."),
        click.Option(["--precision"], type=click.Choice(PRECISION_CHOICES),
                     help="Training precision (Keras dtype policy) [default: the recipe's, auto: bfloat16 where "
                          "measured faster]; the saved model is float32."),
    ])
cli.add_command(train_command)


@cli.command("recipes")
def recipes_command():
    """List the recipes found by name: the zoo's own (recipes/), then those in the folders of
    $ZOO_RECIPES_PATH, each with its model family, what it trains and its file's folder."""
    from zoo.recipe import load_recipe, recipe_files

    for name, path in recipe_files().items():
        recipe = load_recipe(path)  # by its file: the folders were searched once, above
        click.echo(f"{name:<40}{recipe.model:<24}{recipe.description}  [{path.parent}]")


@cli.command("env")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def env_command(as_json):
    """Show the backend, library versions, devices, the precision `auto` picks and why, and
    which library patches (zoo/compat) are active here, or why not."""
    from zoo import environment_report as environment

    found = environment.report()
    if as_json:
        _echo_json(found)
        return
    for line in environment.report_lines(found):
        click.echo(line)


@cli.command("evaluate")
@click.argument("run_dir", type=click.Path())
@_param(_DATA_DIR)
def evaluate_command(run_dir, data_dir):
    """Recompute the test metrics of a finished run folder."""
    from zoo.training import evaluate_run

    _echo_json(evaluate_run(run_dir, data_dir=data_dir))


@cli.command("export")
@click.argument("run_dir", type=click.Path())
@click.option("--format", "export_formats", default=",".join(formats.defaults()), show_default=True,
              help=f"Comma-separated formats, of {','.join(f for f in formats.names() if not formats.get_format(f).int8_of)}.")
@click.option("--quantize", type=click.Choice(["int8"]),
              help="Also write the int8 variant of each format that has one (onnx, litert), checked by the task "
                   "metric against float32 within the task's budget.")
@click.option("--out", type=click.Path(file_okay=False), help="Export folder [default: RUN_DIR/export].")
@_param(_DATA_DIR)
@click.option("--tolerance", type=FiniteFloat(min=0), default=1e-5, show_default=True,
              help="Largest absolute difference allowed between Keras and an artifact (plus 1e-6 x |output|).")
def export_command(run_dir, export_formats, quantize, out, data_dir, tolerance):
    """Export a run (.keras, SavedModel and ONNX by default; LiteRT, OpenVINO and int8 variants
    on request), every artifact verified against the Keras model before it is published."""
    from zoo.export import export_run

    chosen = formats.parse_formats(export_formats)
    if quantize:
        chosen = formats.with_int8(chosen)
    export_run(run_dir, formats=chosen, out=out, data_dir=data_dir, tolerance=tolerance)


@cli.command("ship")
@click.argument("run_dir", type=click.Path())
@click.option("--out", type=click.Path(file_okay=False),
              help="Shipped model folder [default: saved_models/RECIPE of the checkout, or $ZOO_MODELS_DIR/RECIPE].")
@click.option("--overwrite", is_flag=True, help="Replace an earlier shipped model in --out.")
@_param(_DATA_DIR)
@click.option("--tolerance", type=FiniteFloat(min=0), help="The export's: largest absolute difference allowed "
              "between Keras and ONNX (plus 1e-6 x |output|) [default: 1e-05].")
@click.option("--quantize", type=click.Choice(["int8"]),
              help="Ship the export's int8 variant too, checked against float32 within the task's budget.")
@click.option("--refresh", is_flag=True,
              help="RUN_DIR is a shipped model (a folder or a name): make its export and card again with this "
                   "version of the zoo (file metadata, hub front matter, --quantize), its model and figures kept.")
def ship_command(run_dir, out, overwrite, data_dir, tolerance, quantize, refresh):
    """Make a finished run a shipped model: compact files, a verified ONNX export, the figures
    re-measured on a slice of the test data, and a model card (README.md)."""
    from zoo.pretrained import models_dir
    from zoo.runs import load_run_config
    from zoo.ship import refresh as refresh_shipped, ship

    if refresh:
        given = [flag for flag, value in (("--out", out), ("--overwrite", overwrite), ("--tolerance", tolerance))
                 if value]
        if given:
            raise ZooError(f"{given[0]}: not with --refresh, which rewrites the shipped folder in place with its "
                           f"own tolerance")
        card = refresh_shipped(run_dir, quantize=quantize, data_dir=data_dir)
        _echo_json({"refreshed": card["name"], "size_bytes": card["size_bytes"], "formats": card["export"]["formats"]})
        return
    recipe, _ = load_run_config(run_dir)
    if out is None:
        if models_dir() is None:
            raise ZooError("zoo ship: no saved_models/ folder here; pass --out")
        out = models_dir() / recipe.name
    card = ship(run_dir, out, data_dir=data_dir, tolerance=tolerance, overwrite=overwrite, quantize=quantize)
    _echo_json({"shipped": str(out), "size_bytes": card["size_bytes"], "check": card["check"]})


def main(argv=None) -> int:
    """Entry point: a one-line message and exit code 2 for user errors, no traceback."""
    try:
        cli.main(args=argv, prog_name="zoo", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("zoo: interrupted", err=True)
        return 130
    except click.ClickException as error:  # usage errors too: one line, not click's three
        click.echo(f"zoo: error: {error.format_message()}", err=True)
        return error.exit_code
    except (ZooError, KeyboardInterrupt) as error:
        return report(error)
    except BrokenPipeError:  # e.g. `zoo predict ... | head`: the reader left, nothing to report
        sys.stderr.close()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
