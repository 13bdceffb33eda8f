"""Notifications: the durable SMS/email outbox, its senders and its dispatcher (C §7.3.2.3).

Import the pieces from their modules (``outbox``, ``dispatcher``, ``sms``, ``email``) so
that importing the models (as ``migrations/env.py`` does) never pulls in twilio.
"""
