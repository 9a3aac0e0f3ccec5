"""Celery tasks of the patient portal. Thin: they call portal.reminders.

`send_follow_up_reminders` runs every hour (CELERY_BEAT_SCHEDULE "send-follow-up-reminders").
Running it twice, or two at once, sends nothing twice (the FollowUpReminder row decides, see
portal/reminders.py), so a redelivered or overlapping run is harmless and a lost one is made up
for by the next tick: no retries are needed.
"""

from celery import shared_task

from portal import reminders


@shared_task(name="portal.send_follow_up_reminders", time_limit=30 * 60, soft_time_limit=25 * 60)
def send_follow_up_reminders() -> int:
    return reminders.follow_up_reminders_send()
