from django.db import models


class Event(models.Model):
    name = models.CharField(max_length=200)
    starts_at = models.DateTimeField()
    capacity = models.IntegerField()
    available = models.IntegerField()
    price = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        app_label = "shop"


class Booking(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE)
    user_ref = models.IntegerField()
    quantity = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "shop"
