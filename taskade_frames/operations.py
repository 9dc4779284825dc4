"""The table of v2 operations: how each one pages, and whether it writes.

Pagination is data: adding a list operation is one line here, and the single
generator in ``client.py`` walks it. Facts come from the v2 OpenAPI document
(request bodies and their ``limit`` defaults); the preferred page sizes come
from v1, which documents a maximum of 1000 tasks per page (v2 declares none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["OPERATIONS", "Operation", "Paging", "operation"]

Paging = Literal["cursor", "page", "single", "none"]


@dataclass(frozen=True)
class Operation:
    """One v2 operation.

    ``paging``: ``cursor`` (``limit`` + ``after`` = last item id), ``page``
    (``page`` from 1 + ``limit``), ``single`` (one call returns every item) or
    ``none`` (not a listing). ``write`` operations change state or spend
    credits, so they are never retried once the request may have been sent.
    ``key`` names the field that identifies an item (for de-duplication).
    ``unsendable`` says why ``call()`` refuses it (a raw-body upload, a GET
    or DELETE route): sending JSON there would be wrong, so it is not sent.
    """

    name: str
    paging: Paging = "none"
    write: bool = False
    key: str = "id"
    spec_limit: int | None = None  # the spec's default page size: the safe fallback
    max_limit: int | None = None  # the largest page we ask for
    unsendable: str = ""


_rows = [
    # listings
    Operation("listSpaces", "single"),
    Operation("listFolders", "single"),
    Operation("listProjects", "single"),
    Operation("listAgents", "single"),
    Operation("listFields", "single"),
    Operation("listTasks", "cursor", spec_limit=100, max_limit=1000),
    Operation("listBlocks", "cursor", spec_limit=100, max_limit=1000),
    Operation("listProjectMembers", "page", key="handle", spec_limit=20, max_limit=100),
    Operation("listConversations", "page", spec_limit=20, max_limit=100),
    Operation("listMedia", "page", spec_limit=100, max_limit=100),
    Operation("listTemplates", "page", spec_limit=20, max_limit=100),
    Operation("listMyProjects", "page", spec_limit=100, max_limit=100),
    # reads
    Operation("getProject"),
    Operation("getAgent"),
    Operation("getConversation"),
    Operation("getMedia"),
    Operation("getShareLink"),
    Operation("getPublicAgent"),
    # writes: state changes, or credits spent
    Operation("promptAgent", write=True),
    Operation("createProject", write=True),
    Operation("createProjectFromTemplate", write=True),
    Operation("copyProject", write=True),
    Operation("completeProject", write=True),
    Operation("restoreProject", write=True),
    Operation("enableShareLink", write=True),
    Operation("createAgent", write=True),
    Operation("updateAgent", write=True),
    Operation("deleteAgent", write=True),
    Operation("generateAgent", write=True),
    Operation("addKnowledgeProject", write=True),
    Operation("removeKnowledgeProject", write=True),
    Operation("addKnowledgeMedia", write=True),
    Operation("removeKnowledgeMedia", write=True),
    Operation("enablePublicAgentAccess", write=True),
    Operation("updatePublicAgent", write=True),
    Operation("deleteMedia", write=True),
    Operation("exportBundle"),
    Operation("importBundle", write=True),
    # routes that are not a JSON POST (see the v2 spec): refused by call()
    Operation("uploadMedia", write=True, unsendable="a raw-body upload (multipart/form-data)"),
    Operation("importBundleZip", write=True, unsendable="a raw-body upload (a zip file)"),
    Operation("webhooks", unsendable="a GET/DELETE route (GET /webhooks, DELETE /webhooks/{id})"),
    Operation("media", unsendable="a GET download route (GET /media/{mediaId}/content)"),
    Operation("bundles", unsendable="a GET download route (GET /bundles/{spaceId}/export/zip)"),
]

OPERATIONS: dict[str, Operation] = {op.name: op for op in _rows}


def operation(name: str) -> Operation:
    """Look an operation up; unknown names are treated by their verb.

    ``list*``/``get*`` read and may be retried; anything else is a write.

    >>> operation("listTasks").paging
    'cursor'
    >>> operation("archiveEverything").write
    True
    """
    if not name or not name.isidentifier():
        raise ValueError(f"not an operation name: {name!r}")
    known = OPERATIONS.get(name)
    if known is not None:
        return known
    return Operation(name, write=not name.startswith(("list", "get")))
