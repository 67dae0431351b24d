"""What every command shares before it runs: ``--config``, ``-v`` and ``--log-format``, declared
once and accepted before or after the command name, and the App, opened only when a command
needs it, so ``--help`` and ``--version`` work whatever the configuration."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from ..app import App
from ..errors import ConfigError
from ..logs import setup_logging
from .helpers import FeedgenCliError
from .output import emit

F = TypeVar("F", bound=Callable[..., Any])

LEVELS = ("ERROR", "WARNING", "INFO", "DEBUG")


class Session:
    """The settings the shared options gathered, and the App once a command asks for it."""

    def __init__(self) -> None:
        self.config_path: str | None = None
        self.verbose = 0
        self.log_format: str | None = None
        self.json = False
        # Which settings the command line gave: those win over the environment's.
        self.given: set[str] = set()
        self._app: App | None = None

    def app(self, read_only: bool = False) -> App:
        if self._app is None:
            try:
                app = App.from_sources(self.config_path, read_only=read_only)
            except ConfigError as exc:
                raise FeedgenCliError(exc) from None
            logging_config = app.config.logging
            if self.log_format:  # the build's worker processes log as the parent does
                logging_config = replace(logging_config, format=self.log_format)
                app.config = replace(app.config, logging=logging_config)
            setup_logging(log_level(logging_config.level, self.verbose), logging_config.format)
            self._app = app
        return self._app

    def close(self) -> None:
        if self._app is not None:
            self._app.close()


def log_level(configured: str, verbose: int) -> str:
    """Each -v lowers the level by one step from the configured one (INFO → DEBUG)."""
    index = LEVELS.index(configured) if configured in LEVELS else LEVELS.index("INFO")
    return LEVELS[min(index + verbose, len(LEVELS) - 1)]


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    session = ctx.ensure_object(Session)
    name = param.name or ""
    from_line = ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
    if name == "verbose" and from_line and "verbose" in session.given:
        session.verbose += value  # -v before and after the command name add up
    elif from_line or (name not in session.given and value is not None):
        setattr(session, name, value)
    if from_line:
        session.given.add(name)


def shared_options() -> list[click.Option]:
    """New instances each time: one set per command."""
    return [
        click.Option(
            ["--config", "config_path"],
            envvar="FEEDGEN_CONFIG",
            type=click.Path(dir_okay=False),
            expose_value=False,
            callback=_remember,
            help="TOML configuration file (env FEEDGEN_CONFIG). Env FEEDGEN_<SECTION>_<KEY> "
            "overrides.",
        ),
        click.Option(
            ["-v", "--verbose"],
            count=True,
            envvar="FEEDGEN_VERBOSE",
            expose_value=False,
            callback=_remember,
            help="Log more: each -v one level lower than logging.level (env FEEDGEN_VERBOSE).",
        ),
        click.Option(
            ["--log-format"],
            type=click.Choice(["text", "json"]),
            expose_value=False,
            callback=_remember,
            help="Log lines as text or JSON objects (default: logging.format).",
        ),
    ]


def _add_shared(command: click.Command) -> None:
    names = {name for param in command.params for name in param.opts}
    if "--config" not in names:
        command.params.extend(shared_options())


class FeedgenGroup(click.Group):
    """A group whose commands (and subgroups') all take the shared options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _add_shared(self)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        _add_shared(cmd)
        if isinstance(cmd, click.Group):
            for sub in cmd.commands.values():
                _add_shared(sub)
        super().add_command(cmd, name)


class RootGroup(FeedgenGroup):
    """The ``feedgen`` group: notes whether the command asked for --json, so that any error,
    a usage error too, also leaves a JSON error object on stdout."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.ClickException as exc:  # a bad option before the command name
            if "--json" in _before_separator(args):
                emit(error_object(exc))
            raise

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        session = ctx.ensure_object(Session)
        session.json = "--json" in _before_separator(args)
        ctx.call_on_close(session.close)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            if ctx.ensure_object(Session).json:
                emit(error_object(exc))
            raise


def _before_separator(args: Sequence[str]) -> list[str]:
    return list(args[: args.index("--")] if "--" in args else args)


def error_object(exc: click.ClickException) -> dict[str, Any]:
    details = getattr(exc, "details", {})
    return {**details, "error": exc.format_message(), "exit_code": exc.exit_code}


def json_option(func: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document on stdout (README)."
    )(func)


def pass_app(func: F) -> F:
    """Hand the command the App, opened now."""
    return _passing_app(func, read_only=False)


def pass_reader(func: F) -> F:
    """Hand the command the App opened read-only: a command that only looks creates nothing."""
    return _passing_app(func, read_only=True)


def _passing_app(func: F, read_only: bool) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        session = click.get_current_context().ensure_object(Session)
        return func(session.app(read_only=read_only), *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def pass_session(func: F) -> F:
    """Hand the command the Session, for one that decides late whether it only reads."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(click.get_current_context().ensure_object(Session), *args, **kwargs)

    return wrapper  # type: ignore[return-value]
