"""The admin's sweep form, whose search space is edited as rows of parameters
(name, type, low, high, step, log, choices) or, alternatively, as raw JSON.

Whichever of the two the user changed wins: the JSON box starts as a copy of the rows,
so editing one and leaving the other alone is never ambiguous.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from tuning.errors import SpecError
from tuning.models import Sweep
from tuning.payloads import check_sweep
from tuning.samplers import PRUNERS, SAMPLERS, choices
from tuning.space import TYPES, SpaceError, parse_space

ROW_FIELDS = ("name", "type", "low", "high", "step", "log", "choices")
SPARE_ROWS = 2


def space_to_rows(space: Any) -> list[dict[str, str]]:
    """The rows the widget shows for a stored space (text in every cell)."""
    if type(space) is not dict:
        return []
    rows = []
    for name, spec in space.items():
        spec = spec if type(spec) is dict else {}
        choices_text = ", ".join(json.dumps(c) if type(c) is not str else c for c in spec.get("choices", []))
        rows.append(
            {
                "name": name,
                "type": str(spec.get("type", "float")),
                "low": "" if spec.get("low") is None else str(spec["low"]),
                "high": "" if spec.get("high") is None else str(spec["high"]),
                "step": "" if spec.get("step") is None else str(spec["step"]),
                "log": "on" if spec.get("log") else "",
                "choices": choices_text,
            }
        )
    return rows


def _choice(text: str) -> Any:
    """``0.1`` and ``true`` are a number and a boolean; ``adam`` is a string; quotes force
    a string (``"1"``)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _row_number(text: str, row: int, name: str, key: str, integer: bool) -> int | float | None:
    if not text:
        return None
    try:
        return int(text) if integer and "." not in text and "e" not in text.lower() else float(text)
    except ValueError:
        raise SpaceError(f"'{key}' must be a number, got {text!r}", name or f"row {row}") from None


def rows_to_space(rows: list[dict[str, str]]) -> dict[str, Any]:
    """The JSON space of the rows; blank rows are skipped. Raises ``SpaceError``."""
    space: dict[str, Any] = {}
    for i, row in enumerate(rows, start=1):
        if not any(row.get(k, "").strip() for k in ROW_FIELDS if k not in ("type", "log")):
            continue
        name = row.get("name", "").strip()
        if not name:
            raise SpaceError("give the parameter a name", f"row {i}")
        if name in space:
            raise SpaceError("appears twice", name)
        kind = row.get("type") or "float"
        spec: dict[str, Any] = {"type": kind}
        if kind == "categorical":
            text = row.get("choices", "").strip()
            spec["choices"] = [_choice(c.strip()) for c in text.split(",") if c.strip()] if text else []
        else:
            integer = kind == "int"
            for key in ("low", "high", "step"):
                value = _row_number(row.get(key, "").strip(), i, name, key, integer)
                if value is not None:
                    spec[key] = value
            if row.get("log"):
                spec["log"] = True
        space[name] = spec
    return space


class SpaceWidget(forms.Widget):
    template_name = "tuning/widgets/space.html"

    def value_from_datadict(self, data: Any, files: Any, name: str) -> dict[str, Any]:
        count = min(int(data.get(f"{name}-count") or 0), 500)
        rows = [{k: data.get(f"{name}-{i}-{k}", "") for k in ROW_FIELDS} for i in range(count)]
        return {
            "rows": rows,
            "json": data.get(f"{name}-json", ""),
            "json_initial": data.get(f"{name}-json-initial", ""),
        }

    def get_context(self, name: str, value: Any, attrs: Any) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        if isinstance(value, dict) and "rows" in value and "json" in value:
            # Re-shown after an error, as typed.
            rows, text, initial = value["rows"], value["json"], value["json_initial"]
        else:
            space = value if isinstance(value, dict) else _loads(value)
            rows, text = space_to_rows(space), json.dumps(space or {}, indent=2)
            initial = text
        blank = dict.fromkeys(ROW_FIELDS, "")
        rows = [r for r in rows if any(r.get(k) for k in ("name", "low", "high", "choices"))]
        rows = rows + [dict(blank, type="float") for _ in range(SPARE_ROWS)]
        context["widget"].update(
            rows=rows,
            count=len(rows),
            json=text,
            json_initial=initial,
            json_open=_json_edited(text, initial),
            types=TYPES,
        )
        return context


def _loads(value: Any) -> Any:
    try:
        return json.loads(value) if isinstance(value, str) and value else value
    except ValueError:
        return None


def _json_edited(typed: str, initial: str) -> bool:
    """Browsers send a textarea's newlines as CRLF: compare meaning, not bytes."""
    try:
        return json.loads(typed) != json.loads(initial)
    except ValueError:
        return typed.replace("\r\n", "\n").strip() != initial.replace("\r\n", "\n").strip()


class SpaceField(forms.Field):
    widget = SpaceWidget

    def to_python(self, value: Any) -> Any:
        if not isinstance(value, dict) or "rows" not in value:
            return value
        typed_json = value["json"].strip()
        if typed_json and _json_edited(typed_json, value["json_initial"]):
            try:
                return json.loads(typed_json)
            except ValueError as exc:
                raise ValidationError(f"The JSON is not valid: {exc}") from None
        try:
            return rows_to_space(value["rows"])
        except SpaceError as exc:
            raise ValidationError(exc.message) from None

    def validate(self, value: Any) -> None:
        super().validate(value)
        try:
            parse_space(value)
        except SpaceError as exc:
            raise ValidationError(exc.message) from None

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(data) != initial
        except ValidationError:
            return True


class SweepAdminForm(forms.ModelForm):
    space = SpaceField(
        help_text="One row per parameter: float and int take low/high (log scale or a step, "
        "not both); categorical takes comma-separated choices. Blank rows are ignored."
    )
    sampler = forms.ChoiceField(choices=())
    pruner = forms.ChoiceField(choices=())

    class Meta:
        model = Sweep
        fields = (
            "project",
            "name",
            "entry_point",
            "objective",
            "direction",
            "space",
            "config",
            "sampler",
            "sampler_options",
            "pruner",
            "pruner_options",
            "seed",
            "n_trials",
            "parallelism",
        )
        widgets = {
            name: forms.Textarea(attrs={"rows": 2, "cols": 60})
            for name in ("config", "sampler_options", "pruner_options")
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read at form creation, so sampler plug-ins registered by any module are offered.
        if "sampler" in self.fields:
            self.fields["sampler"].choices = choices(SAMPLERS)
        if "pruner" in self.fields:
            self.fields["pruner"].choices = choices(PRUNERS)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        fields = {
            name: cleaned.get(name, getattr(self.instance, name))
            for name in (
                "space",
                "sampler",
                "sampler_options",
                "pruner",
                "pruner_options",
                "entry_point",
                "objective",
                "direction",
                "n_trials",
                "parallelism",
                "seed",
                "config",
            )
        }
        try:
            check_sweep(fields)
        except SpecError as exc:
            field = (exc.field or "").split(".")[0]
            self.add_error(field if field in self.fields else None, exc.message)
        return cleaned
