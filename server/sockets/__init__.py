"""Socket.IO namespaces: /track for shoppers, /admin for live dashboards."""
