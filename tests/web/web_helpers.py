"""Helpers shared by the web tests."""

import re

from fastapi.testclient import TestClient

PASSWORD = "password-di-prova-1"
USERS = {"admin1": ("admin", None), "planner1": ("planner", None),
         "tec.milano": ("technician", "015146"), "tec.rho": ("technician", "015182")}


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; return the session's CSRF token."""
    page = client.get("/accedi")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/accedi", data={"username": username, "password": password, "csrf_token": token, "next": "/"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/remix/interventi")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
