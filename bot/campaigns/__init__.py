"""Broadcast campaigns: compose in three languages, pick an audience, schedule, and deliver
paced to each platform with one durable row per recipient.

model (what a campaign is) → records (store protocol) → engine (delivery) → scheduler
(when) → service (wiring for `govbot run`) → cli (`govbot campaign ...`).
"""
