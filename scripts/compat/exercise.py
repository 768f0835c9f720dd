"""Exercises every operation through a client generated from this service's OpenAPI
document, calling only the functions and models a client generated from the *original*
service's document has: the function names are the original's operationIds, the models
its schema names. Run by scripts/compat.sh; prints one line per check and a summary.
"""
import datetime
import os
import sys
import uuid

from fido_client import AuthenticatedClient, Client
from fido_client.api.analytics import (
    get_transaction_stats_api_v1_analytics_transactions_user_id_get as stats_op,
)
from fido_client.api.health import healthcheck_get
from fido_client.api.transactions import (
    create_user_transaction_api_v1_transactions_post as create_op,
    delete_transaction_by_id_api_v1_transactions_transaction_id_delete as delete_op,
    get_transaction_by_id_api_v1_transactions_transaction_id_get as get_op,
    get_user_transactions_api_v1_transactions_user_user_id_get as list_op,
    update_user_transaction_api_v1_transactions_transaction_id_patch as update_op,
)
from fido_client.models import TransactionCreateDto, TransactionType, TransactionUpdateDto

URL = os.environ["FIDO_COMPAT_URL"]
client = AuthenticatedClient(base_url=URL, token=os.environ["FIDO_COMPAT_KEY"])
public = Client(base_url=URL)
results = []


def check(name, condition, detail=""):
    results.append(bool(condition))
    print(f"{'ok  ' if condition else 'FAIL'} {name}" + (f": {detail}" if detail and not condition else ""))


def data(response):
    import json
    return json.loads(response.content)["data"]


user = uuid.uuid4().hex[:24]

r = healthcheck_get.sync_detailed(client=public)
check("healthcheck__get", r.status_code == 200, r.content)

naive = datetime.datetime(2025, 11, 25, 13, 40, 31, 184834)  # no tzinfo, as Python code sends
body = TransactionCreateDto(
    user_id=user,
    full_name="Ada Lovelace",
    transaction_amount=10.5,
    transaction_type=TransactionType.CREDIT,
    transaction_date=naive,
)
r = create_op.sync_detailed(client=client, body=body)
check("create_user_transaction (naive date-time)", r.status_code == 201, r.content)
created = data(r)
tid = created["id"]
check("create answers _id beside id", created.get("_id") == tid, created)
check("naive date-time read as UTC", created["transaction_date"] == "2025-11-25T13:40:31.184Z", created)

r = get_op.sync_detailed(transaction_id=tid, client=client)
check("get_transaction_by_id", r.status_code == 200 and data(r)["id"] == tid, r.content)

patch = TransactionUpdateDto(full_name=None, transaction_amount=12.75, transaction_type=None)
r = update_op.sync_detailed(transaction_id=tid, client=client, body=patch)
check("update_user_transaction (explicit nulls)", r.status_code == 200, r.content)
if r.status_code == 200:
    check("null fields unchanged", data(r)["full_name"] == "Ada Lovelace" and data(r)["transaction_type"] == "credit", r.content)
    check("amount changed", data(r)["transaction_amount"] == 12.75, r.content)

r = list_op.sync_detailed(user_id=user, client=client, page=1, limit=10)
check("get_user_transactions", r.status_code == 200 and data(r)["total"] == 1, r.content)

r = stats_op.sync_detailed(
    user_id=user,
    client=client,
    start_date=datetime.datetime(2025, 11, 25, 0, 0, 0),
    end_date=datetime.datetime(2025, 11, 25, 23, 59, 59, 999999),
)
check("get_transaction_stats (naive bounds)", r.status_code == 200 and data(r)["transaction_count"] == 1, r.content)

r = delete_op.sync_detailed(transaction_id=tid, client=client)
check("delete_transaction_by_id", r.status_code == 200, r.content)
r = get_op.sync_detailed(transaction_id=tid, client=client)
check("deleted transaction is 404", r.status_code == 404, r.content)

failed = results.count(False)
print(f"compat: {len(results) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
