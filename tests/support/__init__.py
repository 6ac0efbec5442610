"""What the tests share, one module per concern: helpers live here, not in test files.

- polling: `eventually()`, the one wait on a condition;
- settings: `build_settings()` / `server_env()` for apps and server processes of their own,
  on `VITRINE_TEST_MONGODB_URI` when it is set; `UNLIMITED` tracking limits;
- live_server: Hypercorn in this loop or `python -m server run` as a process, visitors;
- sockets: Socket.IO clients of /track and /admin; probes: events stored, stream drained;
- batches: tracker batches, rrweb events, the scripted visits of tests/fixtures/personas;
- shopper / admin_client: a visitor through Quart's test client, an admin over HTTP;
- node_shoppers (+ node_shopper.mjs): the browser transport run by node;
- fake_mistral, flusher_process, recompute: Mistral's API, a flusher child process, and
  aggregates recomputed from the stored raw events.
"""
