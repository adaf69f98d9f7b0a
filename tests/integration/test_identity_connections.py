"""Identity-based connections: the product's own Blob and Storage-queue clients with a token credential
(the Entra stand-in issues it, Azurite over HTTPS with OAuth checks issuer, audience and expiry), from the
same `CSPB_STORAGE__*` settings the Functions host reads; no connection string anywhere."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def storage_env(azure_env, azurite_oauth, monkeypatch):
    from shared.config import reset_settings
    from shared.queue import reset_in_process_queues

    monkeypatch.setenv("CSPB_STORAGE__blobServiceUri", azurite_oauth["blob"])
    monkeypatch.setenv("CSPB_STORAGE__queueServiceUri", azurite_oauth["queue"])
    monkeypatch.setenv("CSPB_QUEUE_BACKEND", "azurite")
    reset_settings()
    reset_in_process_queues()
    yield azure_env
    reset_in_process_queues()


def test_blob_store_from_settings_is_identity_based(storage_env):
    from shared.blobstore import AzureBlobStore, blob_store_from_settings

    store = blob_store_from_settings()
    assert isinstance(store, AzureBlobStore)
    info = store.put("doctor/probe.txt", b"hello", content_type="text/plain")
    assert store.get("doctor/probe.txt") == b"hello" and info.size == 5
    assert list(store.list("doctor/")) == ["doctor/probe.txt"]
    tokens = [i for i in storage_env.entra.issued if i["aud"] == "https://storage.azure.com"]
    assert tokens and tokens[0]["grant"] == "client_credentials"


def test_storage_queue_sends_and_receives_with_a_token(storage_env):
    from shared.queue import get_queue

    queue = get_queue("cspb-provisioning")
    assert queue.send({"changelog": "c-1"}, message_id="m-1") is True
    assert queue.send({"changelog": "c-1"}, message_id="m-1") is False  # dedupe marker, identity-based too
    [message] = queue.receive(5)
    assert message.id == "m-1" and message.body == {"changelog": "c-1"}
    queue.complete(message)


def test_a_wrong_audience_token_is_refused_by_storage(storage_env, monkeypatch):
    """Azurite checks the audience: a token for another resource does not open Storage."""
    from azure.core.exceptions import HttpResponseError

    from shared.auth import azure_credential
    from shared.blobstore import AzureBlobStore
    from shared.config import get_settings

    real = azure_credential(get_settings())

    class WrongAudience:
        def get_token(self, *scopes, **kwargs):
            return real.get_token("https://vault.azure.net/.default")

        def get_token_info(self, *scopes, options=None):
            token = real.get_token("https://vault.azure.net/.default")
            from azure.core.credentials import AccessTokenInfo

            return AccessTokenInfo(token.token, token.expires_on)

    with pytest.raises(HttpResponseError) as err:
        AzureBlobStore("cspbridge", account_url=get_settings().blob_service_uri, credential=WrongAudience(),
                       connection_verify=storage_env.ca_file).put("x.txt", b"x")
    assert err.value.status_code in (401, 403)


def test_service_bus_client_is_built_identity_based(azure_env, monkeypatch):
    """Without a connection string the sender is built on the namespace and a token credential (the
    Service Bus AMQP stand-in is not part of this suite: see the note in README, deploy grants)."""
    from shared.config import reset_settings
    from shared.queue import ServiceBusQueue, get_queue, reset_in_process_queues

    monkeypatch.setenv("CSPB_QUEUE_BACKEND", "servicebus")
    monkeypatch.setenv("CSPB_SERVICEBUS__fullyQualifiedNamespace", "cspb-test.servicebus.windows.net")
    reset_settings()
    reset_in_process_queues()
    try:
        queue = get_queue("cspb-provisioning")
        assert isinstance(queue, ServiceBusQueue)
        assert queue._client.fully_qualified_namespace == "cspb-test.servicebus.windows.net"
        from azure.identity import ClientSecretCredential

        assert isinstance(queue._client._credential, ClientSecretCredential)
    finally:
        reset_in_process_queues()
