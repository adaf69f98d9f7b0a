"""Azure Service Bus (AMQP) stand-in."""
