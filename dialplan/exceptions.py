"""Errors of the dialplan feature: each carries an error id and the list of problems."""

from __future__ import annotations


class DialplanError(Exception):
    """The Asterisk configuration cannot be rendered; nothing was written."""

    error_id = "dialplan-error"

    def __init__(self, problems: list[str], *, title: str = "cannot render the Asterisk configuration") -> None:
        self.problems = list(problems)
        self.details = {"problems": self.problems}
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{title} ({len(self.problems)} problem(s)):\n{lines}")


class DirectoryError(DialplanError):
    """The directory description (endpoints, trunk, queues, numbers) is invalid."""

    error_id = "invalid-directory"

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems, title="invalid directory description")


class SettingsMismatchError(DialplanError):
    """A product setting cannot be turned into Asterisk configuration."""

    error_id = "invalid-settings-for-asterisk"

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems, title="settings unusable for the Asterisk configuration")
