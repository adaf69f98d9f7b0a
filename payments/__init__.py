"""Payment processors (tokens only, never card data), payment links and invoice charging."""
