"""Binds the request's user as the actor of model changes recorded during the request.

cases.model_changes records admin (and any other) changes with this actor; outside requests
the system user acts. Goes after AuthenticationMiddleware. The user is read when an event is
recorded, not now: signing in replaces request.user half-way through a request.
"""

from cases.audit import reset_request_user, set_request_user


class CurrentActorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = set_request_user(lambda: getattr(request, "user", None))
        try:
            return self.get_response(request)
        finally:
            reset_request_user(token)
