// Entry point of the storefront's browser code: one import per feature module.
import "./shop.js";
import "./adapt.js";
import "./consent.js";
import { boot } from "./tracker.js";
import { bootRecorder } from "./recorder.js";

boot();
bootRecorder(); // after boot(): it records only while the tracker runs
