"""The naive design, for comparison: one Celery task per delivery, one commit per receipt."""
