"""Device alarms (C §5.2.6, C §7.3.2.8): intake over HTTP and MQTT, device tokens, call flows.

Alarms build on the SOS app (their calls are SOS conferences); the SOS package never
imports this one.
"""
