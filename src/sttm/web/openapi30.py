"""Rewrite FastAPI's OpenAPI 3.1 document as OpenAPI 3.0.3 (OGC API – Features conformance class
``oas30``): ``anyOf: [X, {type: null}]`` → ``X`` + ``nullable: true``; ``examples`` lists → ``example``;
numeric ``exclusiveMinimum``/``exclusiveMaximum`` → boolean form; 422 responses (this app answers
400 to invalid parameters, as OGC API requires) become 400."""

from __future__ import annotations

import copy
from typing import Any


def _fix(node: Any) -> Any:
    if isinstance(node, list):
        return [_fix(x) for x in node]
    if not isinstance(node, dict):
        return node
    node = {k: _fix(v) for k, v in node.items()}
    for key in ("anyOf", "oneOf"):
        alts = node.get(key)
        if isinstance(alts, list) and any(a == {"type": "null"} for a in alts):
            rest = [a for a in alts if a != {"type": "null"}]
            node.pop(key)
            if len(rest) == 1:
                node.update(rest[0])
            else:
                node[key] = rest
            node["nullable"] = True
    if node.get("type") == "null":
        node.pop("type")
        node["nullable"] = True
    if isinstance(node.get("type"), list):
        types = [t for t in node["type"] if t != "null"]
        if len(types) < len(node["type"]):
            node["nullable"] = True
        node["type"] = types[0] if len(types) == 1 else types[0]
    if "examples" in node and isinstance(node["examples"], list) and "in" not in node:
        ex = node.pop("examples")
        if ex:
            node["example"] = ex[0]
    for k in ("exclusiveMinimum", "exclusiveMaximum"):
        if isinstance(node.get(k), (int, float)) and not isinstance(node.get(k), bool):
            node[k.replace("exclusiveM", "m")] = node.pop(k)
            node[k] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "contentMediaType" in node:
        node.pop("contentMediaType")
        node["format"] = "binary"
    return node


def downgrade_to_30(schema: dict) -> dict:
    s = copy.deepcopy(schema)
    s["openapi"] = "3.0.3"
    for item in s.get("paths", {}).values():
        for op in item.values():
            if isinstance(op, dict) and "responses" in op:
                if "422" in op["responses"]:
                    r = op["responses"].pop("422")
                    r["description"] = "Parametri non validi"
                    op["responses"]["400"] = r
    return _fix(s)
