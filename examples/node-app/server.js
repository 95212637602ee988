// A tiny web server: answers every request with a greeting made by a local dependency.
const http = require('http');
const greeting = require('greeting');

const message = 'Hello from node in a boxwright container';

http
  .createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(greeting(message) + '\n');
  })
  .listen(80, () => console.log('listening on port 80'));
