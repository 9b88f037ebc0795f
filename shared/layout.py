"""Tables that fit the terminal: columns sized so that no word is ever cut, or one card per row.

rich shrinks the widest columns first when a table is too wide, which cuts words
(`produc|tion`, `2026-1|2-29`) even when another column had room. Here each column's
minimum is its longest word (ids, dates and versions: their whole text), the rest of the
width goes to the columns that need it, and when even the minimums do not fit, each row is
printed as a card: its key fields on one line, the others as `label: value` lines below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

Cell = str | Text


@dataclass(frozen=True)
class Column:
    header: str
    key: bool = False  # on the card's first line in the narrow layout
    no_wrap: bool = False  # ids, dates, versions: kept whole


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


def _longest_line(text: str) -> int:
    return max((cell_len(line) for line in text.splitlines()), default=0)


def column_widths(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int) -> list[int] | None:
    """Widths that fit `width` without cutting a word, or None when no such widths exist."""
    least, most = [], []
    for index, column in enumerate(columns):
        texts = [column.header, *(_plain(row[index]) for row in rows)]
        longest = max(_longest_line(t) for t in texts)
        least.append(longest if column.no_wrap else max(_longest_word(t) for t in texts))
        most.append(max(longest, 1))
    chrome = 3 * len(columns) + 1  # a space either side of each cell, a rule between and around
    room = width - chrome - sum(least)
    if room < 0:
        return None
    widths = list(least)
    # Columns that need little get all they need first, so as many cells as possible stay on one line.
    order = sorted(range(len(columns)), key=lambda i: most[i] - least[i])
    for position, index in enumerate(order):
        share = room // (len(order) - position)
        grant = min(most[index] - least[index], share)
        widths[index] += grant
        room -= grant
    return widths


def show(
    console: Console,
    title: str,
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    *,
    empty: str = "nothing to show",
) -> None:
    """Print `rows` under `title` as a table that fits the console, or as cards when it cannot."""
    console.print(Text(title, style="bold"))
    if not rows:
        console.print(Text(f"  {empty}"))
        return
    widths = column_widths(columns, rows, console.width)
    if widths is None:
        _cards(console, columns, rows)
        return
    table = Table(show_header=True, header_style="bold", expand=False, padding=(0, 1))
    for column, size in zip(columns, widths, strict=True):
        table.add_column(column.header, width=size, no_wrap=column.no_wrap, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _cards(console: Console, columns: Sequence[Column], rows: Sequence[Sequence[Cell]]) -> None:
    labels = [c.header for c in columns if not c.key]
    label_width = max((cell_len(label) for label in labels), default=0) + 1
    for number, row in enumerate(rows):
        if number:
            console.print()
        heading = Text()
        for column, cell in zip(columns, row, strict=True):
            if column.key and _plain(cell):
                if heading:
                    heading.append("  ")
                heading.append_text(cell if isinstance(cell, Text) else Text(cell, style="bold"))
        console.print(heading)
        grid = Table.grid(padding=(0, 1, 0, 0), expand=False)
        grid.add_column(width=label_width + 2, no_wrap=True)
        grid.add_column(overflow="fold")
        for column, cell in zip(columns, row, strict=True):
            if not column.key and _plain(cell) not in ("", "-"):
                grid.add_row(Text(f"  {column.header}:", style="dim"), cell)
        if grid.row_count:
            console.print(grid)
