print("stockboom")
