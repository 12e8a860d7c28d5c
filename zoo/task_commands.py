"""The commands built from the task registry: `zoo predict`, `generate`, `translate` (or a
task's own command) take MODEL's task's arguments and options, `zoo train` RECIPE's task's
(:class:`TaskCommand`); :class:`ZooGroup` finds the commands the tasks answer."""

import click

from zoo import formats
from zoo.pretrained import load_engines

_ENGINE = click.Option(["--engine"], type=click.Choice(load_engines()),
                       default=formats.DEFAULT_ENGINE, show_default=True,
                       help="An export format's runtime (onnxruntime, TensorFlow's SavedModel loader; no Keras), "
                            "or Keras on --backend.")
# The model a command runs: a shipped model's name (zoo list), a run folder or an export folder.
_MODEL = click.Argument(["model_ref"], metavar="MODEL")


class TaskCommand(click.Command):
    """A command whose options after its first argument are that argument's task's: MODEL's
    for the commands tasks answer (`predict`, `generate`, `translate`, or a task's own),
    RECIPE's for `train`. Click then refuses, in its usual line, an option the task lacks.

    `task_of(ctx, ref, given)` is the task of that argument (a one-line error where there is
    none), `given` the command's own options before its task's, as typed (``{"--engine": ...}``);
    `task_params(task)` its click parameters; `tasks()` are the tasks whose options
    ``--help`` lists when no argument is given; `task_help(task)`, where given, replaces the
    help text once the task is known.
    """

    def __init__(self, name, *, task_of, task_params, tasks, task_help=None, **kwargs):
        super().__init__(name, **kwargs)
        self.task_of, self.task_params, self.tasks, self.task_help = task_of, task_params, tasks, task_help
        self.own_params = list(self.params)
        self.task = None

    def parse_args(self, ctx, args):
        ref, given = self._first_argument(ctx, args)
        self.task = None if ref is None else self.task_of(ctx, ref, given)
        self.params = [*self.own_params, *(self.task_params(self.task) if self.task else ())]
        return super().parse_args(ctx, args)

    def _first_argument(self, ctx, args):
        """The token of the first argument (MODEL, RECIPE), skipping the command's own options,
        and the values of those options wherever they are given (before or after it); (None,
        ...) where there is no argument yet."""
        options = [p for p in [*self.own_params, self.get_help_option(ctx)] if isinstance(p, click.Option)]
        takes_value = {name: not option.is_flag for option in options for name in option.opts + option.secondary_opts}
        ref, given, index = None, {}, 0
        while index < len(args):
            token = args[index]
            if token == "--":
                if ref is None and index + 1 < len(args):
                    ref = args[index + 1]
                break
            name, _, value = token.partition("=")
            if token.startswith("-") and token != "-" and name in takes_value:
                if takes_value[name] and not value:
                    value = args[index + 1] if index + 1 < len(args) else None
                    index += 1
                given[name] = value
            elif ref is None and token.startswith("-") and token != "-":
                raise click.NoSuchOption(name, message=f"No such option: {name} (the options of "
                                                       f"{self.own_params[0].human_readable_name}'s task go after it)")
            elif ref is None:
                ref = token
            index += 1
        return ref, given

    def format_help_text(self, ctx, formatter):
        if self.task is not None and self.task_help is not None:
            formatter.write_paragraph()
            with formatter.indentation():
                formatter.write_text(self.task_help(self.task))
            return
        super().format_help_text(ctx, formatter)

    def format_options(self, ctx, formatter):
        super().format_options(ctx, formatter)
        if self.task is not None:
            return
        for task in self.tasks():
            records = [record for param in self.task_params(task) if (record := param.get_help_record(ctx))]
            kind = "recipes" if self.name == "train" else "models"
            with formatter.section(f"Arguments and options of {task.name} {kind}"):
                formatter.write_dl(records)

    def collect_usage_pieces(self, ctx):
        pieces = super().collect_usage_pieces(ctx)
        return pieces if self.task is not None else [*pieces, "[ITS TASK'S OPTIONS AND ARGUMENTS]"]


def _answering(command: str) -> list:
    """The tasks that answer `zoo COMMAND`."""
    from zoo.tasks import get_task, list_tasks

    return [task for task in map(get_task, list_tasks()) if command in task.commands]


def _model_command(name: str) -> click.Command:
    """`zoo NAME MODEL ...`, built from the tasks that answer NAME: each task's Command gives
    its help and its parameters after MODEL."""

    def model_task(ctx, ref, given):
        """MODEL loaded (every check of its files first) with --engine, kept for `answer`."""
        from zoo.pretrained import load

        engine = given.get("--engine", _ENGINE.default)
        if engine not in _ENGINE.type.choices:
            return None  # click says what --engine takes
        ctx.meta["zoo.model"] = model = load(ref, engine)
        model.task.check_command(name, model.origin)
        return model.task

    @click.pass_context
    def answer(ctx, model_ref, engine, **options):
        model = ctx.meta["zoo.model"]
        for line in model.task.run_command(name, model, **options):
            click.echo(line)

    tasks = _answering(name)
    helps = "\n\n".join(f"{task.name} models: {task.commands[name].help}" for task in tasks)
    return TaskCommand(
        name, callback=answer, task_of=model_task, task_params=lambda task: task.commands[name].params,
        tasks=lambda: tasks, params=[_MODEL, _ENGINE],
        task_help=lambda task: f"Run MODEL, a {task.name} model: {task.commands[name].help}",
        help=f"Run MODEL (a shipped model's name, a run or an export folder); what follows MODEL is its task's: "
             f"`zoo {name} MODEL --help` lists it.\n\n{helps}",
        short_help=f"Run MODEL: {', '.join(task.name for task in tasks)} models.")


class ZooGroup(click.Group):
    """The zoo's commands: those below, and the commands the tasks answer (zoo.tasks),
    found in the task registry when asked for."""

    def list_commands(self, ctx):
        from zoo.tasks import get_task, list_tasks

        answered = {command for name in list_tasks() for command in get_task(name).commands}
        return sorted({*super().list_commands(ctx), *answered})

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is None and name in self.list_commands(ctx):
            command = _model_command(name)
        return command
