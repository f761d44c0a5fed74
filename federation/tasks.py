"""Celery tasks of the federation package (autodiscovered by the worker).

Task names start with `federation.tasks.inbox_` (queue `inbox`) or `federation.tasks.delivery_`
(queue `delivery`); see ourvoice/celery.py. The tasks live in `tasks_inbox.py` and
`tasks_delivery.py` and are imported here so that every worker registers them.
"""

from federation import (
    tasks_delivery,  # noqa: F401  (registers federation.tasks.delivery_*)
    tasks_inbox,  # noqa: F401  (registers federation.tasks.inbox_*)
)
