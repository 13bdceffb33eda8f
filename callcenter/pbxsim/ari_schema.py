"""Validate ARI messages against the models of Asterisk's API description (ari-api-docs)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

PRIMITIVES = {"string": str, "boolean": bool, "int": int, "long": int, "double": (int, float),
              "Date": str, "object": dict, "binary": (bytes, str)}
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}$")


class AriSchema:
    """All models of the ``*.json`` API description files in one directory."""

    def __init__(self, docs_dir: Path) -> None:
        self.models: dict[str, dict[str, Any]] = {}
        for path in sorted(docs_dir.glob("*.json")):
            self.models.update(json.loads(path.read_text()).get("models", {}))

    def validate(self, value: Any, model: str = "Message") -> list[str]:
        """Problems of ``value`` as an instance of ``model`` (empty list: valid)."""
        problems: list[str] = []
        self._check(value, model, "$", problems)
        return problems

    def _check(self, value: Any, type_name: str, where: str, problems: list[str]) -> None:
        if type_name.startswith("List[") and type_name.endswith("]"):
            if not isinstance(value, list):
                problems.append(f"{where}: expected a list, got {type(value).__name__}")
                return
            for i, item in enumerate(value):
                self._check(item, type_name[5:-1], f"{where}[{i}]", problems)
            return
        if type_name in PRIMITIVES:
            expected = PRIMITIVES[type_name]
            if type_name in ("int", "long", "double") and isinstance(value, bool):
                problems.append(f"{where}: expected {type_name}, got bool")
            elif not isinstance(value, expected):  # type: ignore[arg-type]
                problems.append(f"{where}: expected {type_name}, got {type(value).__name__}")
            elif type_name == "Date" and not DATE.match(value):
                problems.append(f"{where}: {value!r} is not an ARI date")
            return
        model = self.models.get(type_name)
        if model is None:
            problems.append(f"{where}: unknown model {type_name}")
            return
        if not isinstance(value, dict):
            problems.append(f"{where}: expected {type_name} object")
            return
        # Polymorphic bases (Message, Event) are resolved by the "type" discriminator.
        if model.get("subTypes") and isinstance(value.get("type"), str):
            concrete = value["type"]
            if concrete != type_name:
                if concrete not in self._descendants(type_name):
                    problems.append(f"{where}: {concrete} is not a subtype of {type_name}")
                    return
                self._check(value, concrete, where, problems)
                return
        for name, prop in self._properties(type_name).items():
            if name not in value:
                if prop.get("required"):
                    problems.append(f"{where}.{name}: required by {type_name}, missing")
                continue
            self._check(value[name], prop["type"], f"{where}.{name}", problems)
            allowed = prop.get("allowableValues", {})
            if allowed.get("valueType") == "LIST" and value[name] not in allowed["values"]:
                problems.append(f"{where}.{name}: {value[name]!r} not in {allowed['values']}")

    def _descendants(self, name: str) -> set[str]:
        out: set[str] = set()
        for sub in self.models.get(name, {}).get("subTypes", []):
            out |= {sub} | self._descendants(sub)
        return out

    def _properties(self, name: str) -> dict[str, Any]:
        """A model's properties including those inherited from its bases."""
        props: dict[str, Any] = {}
        for base, model in self.models.items():
            if name in model.get("subTypes", []):
                props.update(self._properties(base))
        props.update(self.models[name].get("properties", {}))
        return props
