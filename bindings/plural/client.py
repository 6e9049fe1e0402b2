"""A client of `plural serve` (docs/serve.md), standard library only, so a notebook or an RLHF worker without the
compiled module can use it too."""
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Iterable, List, Optional, Sequence, Tuple, Union

Answer = Union[dict, Tuple[str, str, str]]


class ServerError(RuntimeError):
    """The server refused a request; `status` is the HTTP status, the message is its {"error": ...}."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class Client:
    """plural.Client("http://127.0.0.1:8000", token=None): rewards, answers and queries against a running server."""

    def __init__(self, url: str, token: Optional[str] = None, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Optional[dict] = None):
        data = None if body is None else json.dumps(body, allow_nan=False).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
                return json.loads(payload) if response.headers.get_content_type() == "application/json" else payload
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            try:
                text = json.loads(text).get("error", text)
            except ValueError:
                pass
            raise ServerError(e.code, text) from None

    @staticmethod
    def _user_path(user: str) -> str:
        return "/v1/users/" + urllib.parse.quote(str(user), safe="")

    def health(self) -> dict:
        return self._call("GET", "/healthz")

    def reward(self, texts: Sequence[str], user: Optional[str] = None, prompt: Optional[str] = None) -> List[float]:
        """Rewards of responses to one prompt for a stored or seen user (None = the population)."""
        body = {"texts": list(texts), "prompt": prompt, "user": user}
        return self._call("POST", "/v1/reward", body)["rewards"]

    def prefer(self, a: str, b: str, user: Optional[str] = None, prompt: Optional[str] = None) -> float:
        """P(user prefers a to b)."""
        return self._call("POST", "/v1/prefer", {"a": a, "b": b, "prompt": prompt, "user": user})["p_a"]

    def get_reward(self, query: Sequence[str], prompts: Optional[Sequence[str]] = None,
                   labels: Optional[Sequence[str]] = None) -> List[float]:
        """OpenRLHF's remote reward model call: `query` is prompt + response, `labels` the user ids."""
        body = {"query": list(query), "prompts": None if prompts is None else list(prompts),
                "labels": None if labels is None else list(labels)}
        return self._call("POST", "/get_reward", body)["rewards"]

    def answer(self, user: str, answers: Iterable[Answer]) -> dict:
        """Appends answers — (prompt, chosen, rejected) tuples or dicts — and returns her re-adapted state."""
        records = []
        for a in answers:
            if isinstance(a, dict):
                records.append(a)
            else:
                prompt, chosen, rejected = a
                records.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
        return self._call("POST", self._user_path(user) + "/answers", {"answers": records})

    def user(self, user: str) -> dict:
        """Her stored state: answers, mixture weights or latent, posterior standard deviations."""
        return self._call("GET", self._user_path(user))

    def delete_user(self, user: str) -> dict:
        return self._call("DELETE", self._user_path(user))

    def next_pairs(self, user: str, n: int = 1, candidates: Optional[Iterable[Answer]] = None,
                   scorer: Optional[str] = None) -> dict:
        """The n most informative unanswered pairs (from `candidates`, (prompt, a, b) tuples or dicts, or the
        server's pool) with the expected gain of the best and whether it is below the server's stopping line."""
        body = {"n": n}
        if scorer:
            body["scorer"] = scorer
        if candidates is not None:
            body["candidates"] = [c if isinstance(c, dict) else {"prompt": c[0], "a": c[1], "b": c[2]}
                                  for c in candidates]
        return self._call("POST", self._user_path(user) + "/next", body)

    def metrics(self) -> str:
        raw = self._call("GET", "/metrics")
        return raw.decode() if isinstance(raw, bytes) else raw
