// Entry point of the storefront's browser code: one import per feature module.
import "./shop.js";
import { boot } from "./tracker.js";

boot();
