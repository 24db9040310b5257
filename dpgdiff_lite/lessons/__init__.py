"""Lesson modules behind the numbered notebooks: their figures, widgets and exercise solutions."""
