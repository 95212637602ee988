// The local dependency `npm install` copies into node_modules (no registry needed).
module.exports = (message) => `*** ${message} ***`;
