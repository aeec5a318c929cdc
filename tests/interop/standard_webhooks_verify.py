"""Verifies recorded webhook deliveries with the Standard Webhooks reference library (PyPI
`standardwebhooks`, installed by .ci/run), not with our own verifier.

    python3 standard_webhooks_verify.py SECRET < deliveries.json

deliveries.json: [{"headers": {name: value}, "body": base64}, ...]. Prints one line per delivery
and exits 1 at the first that does not verify.
"""
import base64
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

webhook = Webhook(sys.argv[1])
deliveries = json.load(sys.stdin)
for number, delivery in enumerate(deliveries, 1):
    body = base64.b64decode(delivery["body"])
    try:
        webhook.verify(body, delivery["headers"], json_parse=False)
    except WebhookVerificationError as e:
        print(f"delivery {number}: {e}")
        sys.exit(1)
    print(f"delivery {number}: verified ({delivery['headers'].get('webhook-id')})")
print(f"{len(deliveries)} verified")
