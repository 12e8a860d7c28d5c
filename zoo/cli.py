"""The ``zoo`` command. Thin: parse options, call one function of the package.

keras is imported only inside commands, after ``--backend`` has been applied.
"""

import sys

import click

from zoo.backend import BACKENDS, current_backend, use_backend
from zoo.errors import ZooError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    envvar="KERAS_BACKEND",
    default="tensorflow",
    show_default=True,
    help="Keras backend; set before keras is imported (also read from KERAS_BACKEND).",
)
def cli(backend):
    """Keras RNN zoo: recurrent models on TensorFlow, JAX and PyTorch."""
    use_backend(backend)


@cli.command("list")
def list_command():
    """List every model with its presets and parameter counts."""
    from zoo.registry import create_model, get_spec, list_models

    click.echo(f"backend: {current_backend()}")
    click.echo(f"{'model':<24}{'preset':<10}{'params':>12}  description")
    for name in list_models():
        spec = get_spec(name)
        for preset in spec.presets:
            params = create_model(name, preset).count_params()
            click.echo(f"{name:<24}{preset:<10}{params:>12,}  {spec.description}")


def main(argv=None) -> int:
    """Entry point: a one-line message and exit code 2 for user errors, no traceback."""
    try:
        cli.main(args=argv, prog_name="zoo", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("zoo: interrupted", err=True)
        return 130
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except ZooError as error:
        click.echo(f"zoo: error: {error}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("zoo: interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
