# Schemathesis hooks for .ci/fuzz-rest (loaded through SCHEMATHESIS_HOOKS).
#
# - In required auth mode (ATS_FUZZ_API_KEY set) every request carries the
#   bearer credential of the identity the script registered, which owns the
#   org and project the path dictionaries name, so calls get past 401 to the
#   code behind it. The fuzzer may end that credential itself (it calls
#   `DELETE /auth/api-keys/{id}` and `POST /auth/logout` like any other
#   operation); schemathesis then gets a 401, asks `get` again and replays the
#   request, and `get` signs in afresh (by actor id: the fuzzer may change
#   the identity's email through `PATCH /auth/me`, never its actor id or,
#   not knowing it, its password).
# - Long polls are shortened (see `before_call`).
import os

import requests
import schemathesis

BASE_URL = os.environ.get("ATS_FUZZ_BASE_URL", "")
API_KEY = os.environ.get("ATS_FUZZ_API_KEY")
ACTOR_ID = os.environ.get("ATS_FUZZ_ACTOR_ID", "")
PASSWORD = os.environ.get("ATS_FUZZ_PASSWORD", "")

if API_KEY:

    @schemathesis.auth()
    class Bearer:
        def __init__(self):
            self.first = True

        def get(self, case, ctx):
            if self.first:
                self.first = False
                return API_KEY
            response = requests.post(
                f"{BASE_URL}/auth/login",
                json={"actor_type": "human", "actor_id": ACTOR_ID, "password": PASSWORD},
                timeout=30,
            )
            response.raise_for_status()
            return response.json()["token"]

        def set(self, case, data, ctx):
            case.headers = case.headers or {}
            case.headers["Authorization"] = f"Bearer {data}"


# Most wait_ms a valid claim-next / claim-batch request keeps. The server
# holds such a request open up to wait_ms (0 to 30 000) when nothing is
# claimable, which is right but would make the run wait, and time out
# against the client's timeout, for no finding: valid values above this are
# lowered to it. Invalid ones (over 30 000, negative, not a number) are sent
# as generated, so the 422 path is still fuzzed.
LONGEST_WAIT_MS = 200


@schemathesis.hook
def before_call(context, case, kwargs):
    body = case.body
    if isinstance(body, dict):
        wait = body.get("wait_ms")
        if isinstance(wait, int) and not isinstance(wait, bool) and LONGEST_WAIT_MS < wait <= 30_000:
            body["wait_ms"] = LONGEST_WAIT_MS
