"""The tabs of a function's page. A tab is a name (its URL segment under the function), a
title, and a template ``tab_<name>.html`` that the function page includes; adding one is an
entry here, that template, and a route that fills it and answers with ``function_page``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Tab:
    name: str
    title: str

    @property
    def template(self) -> str:
        return f"tab_{self.name}.html"


TABS: Final = (
    Tab("config", "Async configuration"),
    Tab("invocations", "Invocations"),
    Tab("charts", "Charts"),
    Tab("flow", "Flow control"),
)
BY_NAME: Final = {tab.name: tab for tab in TABS}
