"""What every `avdimage` command shares: exit codes, errors, the wiring, JSON, options and help examples."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Annotated, Any, NoReturn

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console

from shared import bootstrap
from shared.domain.errors import DomainError, InvalidInput
from shared.entrypoints import Entrypoints
from shared.steps.deps import Deps

OK, REFUSED, USAGE, ENVIRONMENT = 0, 1, 2, 3
READ_SETTINGS = (
    "set AVD_TABLES_ENDPOINT (or AVD_TABLES_CONNECTION_STRING), AVD_SUBSCRIPTION_ID and AVD_CATALOG_PATH "
    "(see docs/deploy.md), or add --demo to work on what `make demo` left in .demo/"
)
SETTINGS_HELP = READ_SETTINGS.replace(
    "and AVD_CATALOG_PATH", "AVD_CATALOG_PATH and ServiceBusConnection__fullyQualifiedNamespace"
)


class ConfigurationMissing(Exception):
    """The environment does not say where the records, Azure or Service Bus are."""


class Session:
    """Per process: what `--demo` wired in (its runtime delivers the messages a command sent)."""

    deliver: Callable[[], None] | None = None


def console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def say(text: str) -> None:
    """A sentence on stdout, wrapped at words to the terminal."""
    console().print(text, markup=False)


def complain(text: str) -> None:
    """A line on stderr, wrapped at words to the terminal."""
    Console(stderr=True, highlight=False, soft_wrap=False).print(text, markup=False)


def fail(message: str, code: int = REFUSED) -> NoReturn:
    complain(f"avdimage: {message}")
    raise typer.Exit(code)


@contextmanager
def outcome() -> Iterator[None]:
    """Map what went wrong to the documented exit code, with the reason on stderr."""
    try:
        yield
    except ConfigurationMissing as error:
        fail(f"configuration missing: {error}", ENVIRONMENT)
    except (DomainError, ValidationError) as error:
        fail(str(error), REFUSED)


def wiring() -> Entrypoints:
    """The injected wiring, or production's; missing settings become exit code 3."""
    try:
        return bootstrap.entrypoints()
    except (RuntimeError, ValidationError, InvalidInput, ImportError) as error:
        raise ConfigurationMissing(f"{error}; {SETTINGS_HELP}") from error


def read_deps() -> Deps:
    """Records, catalog and Azure reads only: no Service Bus settings needed."""
    try:
        return bootstrap.reader()
    except (RuntimeError, ValidationError, InvalidInput, ImportError) as error:
        raise ConfigurationMissing(f"{error}; {READ_SETTINGS}") from error


def print_json(payload: Any) -> None:
    """Stable JSON on stdout: models dumped in JSON mode (versions as "1.0.2", times ISO 8601)."""

    def plain(value: Any) -> Any:
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json")
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    typer.echo(json.dumps(plain(payload), indent=2, default=str))


def version_text() -> str:
    try:
        return metadata.version("avd-image-lifecycle")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def show_version(value: bool) -> None:
    if value:
        typer.echo(f"avdimage {version_text()}")
        raise typer.Exit(OK)


def quiet_logs(verbose: bool) -> None:
    """Refusals are reported once, as the command's error; the service layer's log lines only with -v."""
    logger = logging.getLogger("avdimage")
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    elif not logging.getLogger().handlers and not logger.handlers:
        logger.addHandler(logging.NullHandler())


def examples(*pairs: tuple[str, str]) -> str:
    """An az-style Examples section for a command's help: what it does, then the command line."""
    blocks = "\n".join(f"\b\n  {what}\n    {line}\n" for what, line in pairs)
    return f"Examples:\n\n{blocks}"


JsonFlag = Annotated[bool, typer.Option("--json", help="JSON on stdout (stable shape; see README)")]
WideFlag = Annotated[bool, typer.Option("--wide", help="Every detail (approvers, tickets, resource ids)")]
WorkloadArg = Annotated[str, typer.Argument(help="Workload name as in the catalog, e.g. office", show_default=False)]
