"""Query filters that refuse what they do not understand: an unknown parameter (a typo such as
``acount=5`` would otherwise return everything) or an empty value is a 400, never ignored."""

from __future__ import annotations

from typing import Any

import django_filters

#: parameters every paginated list understands besides its filters
PAGINATION_PARAMETERS = frozenset({"cursor", "limit"})


class StrictFilterSet(django_filters.FilterSet):
    def is_valid(self) -> bool:
        valid = super().is_valid()
        data: Any = self.data
        for name in sorted(set(data) - set(self.filters) - PAGINATION_PARAMETERS):
            self.form.add_error(None, f"Unknown query parameter {name!r}.")
            valid = False
        for name in sorted(set(data) & set(self.filters)):
            values = data.getlist(name) if hasattr(data, "getlist") else [data.get(name)]
            if any(value in ("", None) for value in values):
                if name in self.form.fields:
                    self.form.add_error(name, "This parameter may not be empty.")
                else:
                    self.form.add_error(None, f"{name} may not be empty.")
                valid = False
        return valid and not self.form.errors
