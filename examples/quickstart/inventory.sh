# Runs at build time (a RUN step), in a container of the base image.
echo "built in a container whose programs are: $(for d in /bin /usr/bin; do [ -d $d ] && ls $d; done | tr '\n' ' ')"
