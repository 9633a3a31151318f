"""SCIM conformance run: scim2-tester (an independent SCIM checker from PyPI) against a
running bedrock-gate's /scim/v2, for Users and Groups.

Usage: scim_check.py BASE_URL TOKEN
Prints every check as `STATUS resource title: reason` and a last line
`summary: N checks, F failed`; exits 1 if any check is an ERROR or CRITICAL (a
violation of a MUST of RFC 7643/7644), else 0.
"""

import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server
from scim2_tester.utils import Status


def main() -> int:
    base, token = sys.argv[1], sys.argv[2]
    http = httpx2.Client(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    client = SyncSCIMClient(http)
    results = check_server(client, resource_types=["User", "Group"])
    failed = 0
    for r in results:
        bad = r.status in (Status.ERROR, Status.CRITICAL)
        failed += bad
        print(f"{r.status.name} {r.resource_type or '-'} {r.title}: {r.reason}")
        if bad and r.data is not None:
            print(f"    data: {r.data!r}"[:2000])
    print(f"summary: {len(results)} checks, {failed} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
