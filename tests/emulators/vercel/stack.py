"""emulate plus the two layers in front of it, started and stopped together."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from tests.emulators.common.server import EmulatorServer
from tests.emulators.vercel.app import VercelApp
from tests.emulators.vercel.github import GitHubApp
from tests.emulators.vercel.process import EmulateProcess
from tests.emulators.vercel.upstream import Upstream

LOGIN = "envstack"  # the one user in emulate's Vercel and GitHub


@dataclass
class EmulateStack:
    process: EmulateProcess
    vercel: VercelApp
    github: GitHubApp
    vercel_server: EmulatorServer
    github_server: EmulatorServer

    @classmethod
    def start(cls, host: str = "127.0.0.1", vercel_port: int = 0, github_port: int = 0) -> EmulateStack:
        owner_token = secrets.token_urlsafe(24)
        seed = {
            "tokens": {owner_token: {"login": LOGIN}},
            "vercel": {"users": [{"username": LOGIN, "name": "envstack tests", "email": "tests@envstack.invalid"}]},
            "github": {"users": [{"login": LOGIN, "name": "envstack tests", "email": "tests@envstack.invalid"}]},
        }
        process = EmulateProcess(seed)
        urls = process.start()
        try:
            git = Upstream(urls.github, owner_token)
            vercel = VercelApp(Upstream(urls.vercel, owner_token), git)
            github = GitHubApp(git, LOGIN)
            vercel_server = EmulatorServer(vercel, host, vercel_port).start()
            github_server = EmulatorServer(github, host, github_port).start()
        except BaseException:
            process.stop()
            raise
        github.public_url = github_server.url
        return cls(process, vercel, github, vercel_server, github_server)

    def stop(self) -> None:
        for server in (self.vercel_server, self.github_server):
            server.stop()
        self.vercel.serving.close()
        self.vercel.upstream.close()
        self.github.upstream.close()
        self.process.stop()
