// http.js: the JSON calls the shop and the admin console share.
import { test } from "node:test";
import assert from "node:assert/strict";

import { ApiError, csrfToken, errorMessage, getJSON, loadScript, postJSON, requestJSON } from "../src/http.js";
import { installPage } from "./helpers/dom.js";

test("a POST carries the page's CSRF token, JSON and the cookies; a GET sends no body", async () => {
  const { calls } = installPage({ routes: { "POST /add-to-cart": { body: { item_count: 2 } }, "GET /api/cart": { body: { item_count: 2 } } } });
  assert.deepEqual(await postJSON("/add-to-cart", { product_id: "p001", quantity: 2 }), { item_count: 2 });
  await getJSON("/api/cart");
  const [post, get] = calls;
  assert.equal(post.method, "POST");
  assert.deepEqual(post.body, { product_id: "p001", quantity: 2 });
  assert.equal(post.headers["X-CSRF-Token"], "csrf-token-123");
  assert.equal(post.headers["Content-Type"], "application/json");
  assert.equal(post.headers.Accept, "application/json");
  assert.equal(post.credentials, "same-origin");
  assert.equal(get.method, "GET");
  assert.equal(get.body, undefined);
  assert.equal(get.headers["Content-Type"], undefined);
  assert.equal(get.headers["X-CSRF-Token"], "csrf-token-123");
});

test("an error status becomes ApiError with the server's code and detail", async () => {
  installPage({ routes: { "POST /apply-coupon": { status: 409, body: { error: "coupon_expired", detail: "expired yesterday" } }, "GET /broken": { status: 500 } } });
  const error = await postJSON("/apply-coupon", { code: "X" }).catch((caught) => caught);
  assert.ok(error instanceof ApiError);
  assert.deepEqual([error.status, error.code, error.detail], [409, "coupon_expired", "expired yesterday"]);
  assert.equal(error.message, "409 coupon_expired: expired yesterday");
  const bare = await requestJSON("GET", "/broken").catch((caught) => caught);
  assert.deepEqual([bare.status, bare.code, bare.detail], [500, "error", ""], "no JSON body: a generic code");
});

test("errorMessage speaks to the shopper", () => {
  assert.equal(errorMessage(new ApiError(400, "invalid_field", "email is not valid")), "Email is not valid");
  assert.equal(errorMessage(new ApiError(403, "csrf_failed", "bad token")), "Your session has expired. Please reload the page.");
  assert.equal(errorMessage(new ApiError(500, "error", ""), "Fallback."), "Fallback.");
  assert.match(errorMessage(new TypeError("Failed to fetch")), /offline/);
  assert.equal(errorMessage(new Error("x")), "Something went wrong. Please try again.");
});

test("csrfToken is empty without the tag; loadScript appends one async script and settles", async () => {
  const { document } = installPage({ metas: { "csrf-token": null } });
  assert.equal(csrfToken(), "");
  const loading = loadScript(document, "/vendor/rrweb.min.js");
  const [script] = document.head.querySelectorAll("script");
  assert.equal(script.src, "/vendor/rrweb.min.js");
  assert.equal(script.async, true);
  script.onload();
  await loading;
  const failing = loadScript(document, "/vendor/missing.js");
  document.head.querySelectorAll("script")[1].onerror();
  await assert.rejects(failing, /could not load \/vendor\/missing.js/);
});
