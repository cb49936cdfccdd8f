"""The admin blueprint with every route attached: the pages (``pages``) and the actions
(``actions``), behind the gate of ``blueprint``. gateway.api.app mounts ``admin``."""
from gateway.api.admin import actions, pages  # noqa: F401  (they add their routes)
from gateway.api.admin.blueprint import admin

__all__ = ["admin"]
