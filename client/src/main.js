// Entry point of the storefront's browser code: one import per feature module.
import "./shop.js";
