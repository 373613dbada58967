"""A local Vercel API (and GitHub API) for envstack's tests: Vercel Labs' emulate as a
child process, behind a fidelity layer that answers as the real API does."""
