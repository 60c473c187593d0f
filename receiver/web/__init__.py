"""The web side of the receiver: the callback endpoints, health, metrics and OpenAPI.

It authenticates a push, hands the body to `receiver.landing` to store and land, and answers.
It may import landing, vendors, settings, db and logs; nothing below it imports web.
"""
